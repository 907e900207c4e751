//! Exact times as Klaxon writes them for machines: the API, the webhooks and the pages'
//! `datetime` attributes. Below `web` so that the webhook payload and the API share it.

use chrono::NaiveDateTime;

/// UTC with microseconds and a `Z`, as Zenduty writes its dates: `2020-05-21T19:42:16.372614Z`.
pub fn utc(at: &NaiveDateTime) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_have_microseconds_and_a_z() {
        let at = NaiveDateTime::parse_from_str("2020-05-21 19:42:16.3726", "%Y-%m-%d %H:%M:%S%.f")
            .unwrap();
        assert_eq!(utc(&at), "2020-05-21T19:42:16.372600Z");
    }
}

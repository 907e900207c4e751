//! The address a request came from. Behind a reverse proxy the connection comes from the
//! proxy; when its address is in `KLAXON_TRUSTED_PROXIES`, the client is the last address in
//! `X-Forwarded-For` that is not itself a trusted proxy (the ones before it could have been
//! written by the client).

use std::net::IpAddr;

use actix_web::HttpRequest;
use ipnet::IpNet;

pub fn of(req: &HttpRequest, trusted: &[IpNet]) -> String {
    let Some(peer) = req.peer_addr().map(|addr| addr.ip().to_canonical()) else {
        return String::new();
    };
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer.to_string();
    }
    // From the nearest hop outwards: trusted proxies are skipped; the first other address is
    // the client. An entry that is not an address ends the walk at the last hop we believe.
    let mut client = peer;
    let values: Vec<&str> = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|value| value.to_str().ok())
        .collect();
    for part in values.iter().flat_map(|value| value.split(',')).rev() {
        let Ok(ip) = part.trim().parse::<IpAddr>() else {
            break;
        };
        client = ip.to_canonical();
        if !is_trusted(&client) {
            break;
        }
    }
    client.to_string()
}

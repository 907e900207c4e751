//! Field-level validation messages, shown next to the field they are about.

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldErrors(Vec<(&'static str, String)>);

impl FieldErrors {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, field: &'static str, message: impl Into<String>) {
        if self.get(field).is_none() {
            self.0.push((field, message.into()));
        }
    }

    /// The message for a field, if it has one.
    pub fn get(&self, field: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(name, _)| *name == field)
            .map(|(_, message)| message.as_str())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &str)> {
        self.0
            .iter()
            .map(|(field, message)| (*field, message.as_str()))
    }

    /// `Ok(value)` when no field has an error.
    pub fn into_result<T>(self, value: T) -> Result<T, FieldErrors> {
        if self.is_empty() {
            Ok(value)
        } else {
            Err(self)
        }
    }
}

impl std::fmt::Display for FieldErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self
            .iter()
            .map(|(field, message)| format!("{field}: {message}"))
            .collect();
        f.write_str(&parts.join("; "))
    }
}

/// A required single-line text field: trimmed, not empty, at most `max` characters.
pub fn required_text(
    errors: &mut FieldErrors,
    field: &'static str,
    value: &str,
    max: usize,
) -> String {
    let value = value.trim();
    if value.is_empty() {
        errors.add(field, "This field is required.");
    } else if value.chars().count() > max {
        errors.add(field, format!("Use at most {max} characters."));
    }
    value.to_owned()
}

/// An optional single-line or multi-line text field: trimmed, at most `max` characters.
pub fn optional_text(
    errors: &mut FieldErrors,
    field: &'static str,
    value: &str,
    max: usize,
) -> String {
    let value = value.trim();
    if value.chars().count() > max {
        errors.add(field, format!("Use at most {max} characters."));
    }
    value.to_owned()
}

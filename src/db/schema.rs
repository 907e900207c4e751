//! Table definitions shared by both backends (the SQL types used are the ones SQLite and
//! PostgreSQL map alike). Kept by hand beside `migrations/`.

diesel::table! {
    users (id) {
        id -> BigInt,
        username -> Text,
        email -> Text,
        email_normalized -> Text,
        first_name -> Text,
        last_name -> Text,
        password_hash -> Text,
        role -> Integer,
        is_active -> Bool,
        created_at -> Timestamp,
    }
}

diesel::table! {
    app_settings (name) {
        name -> Text,
        value -> Text,
    }
}

diesel::table! {
    login_failures (id) {
        id -> BigInt,
        email_normalized -> Text,
        ip -> Text,
        failed_at -> Timestamp,
    }
}

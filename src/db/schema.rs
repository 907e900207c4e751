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

diesel::table! {
    teams (id) {
        id -> BigInt,
        unique_id -> Text,
        name -> Text,
        created_by -> Nullable<BigInt>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    team_members (id) {
        id -> BigInt,
        team_id -> BigInt,
        user_id -> BigInt,
        role -> Integer,
        created_at -> Timestamp,
    }
}

diesel::table! {
    services (id) {
        id -> BigInt,
        unique_id -> Text,
        team_id -> BigInt,
        name -> Text,
        summary -> Text,
        description -> Text,
        status -> Integer,
        auto_resolve_timeout -> Integer,
        acknowledgement_timeout -> Integer,
        collation -> Integer,
        collation_time -> Integer,
        created_by -> Nullable<BigInt>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    integrations (id) {
        id -> BigInt,
        unique_id -> Text,
        service_id -> BigInt,
        name -> Text,
        summary -> Text,
        application -> Text,
        integration_type -> Integer,
        is_enabled -> Bool,
        integration_key -> Nullable<Text>,
        create_incidents_for -> Integer,
        default_urgency -> Integer,
        url -> Nullable<Text>,
        secret -> Nullable<Text>,
        previous_secret -> Nullable<Text>,
        previous_secret_expires_at -> Nullable<Timestamp>,
        created_by -> Nullable<BigInt>,
        created_at -> Timestamp,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    integration_audit (id) {
        id -> BigInt,
        integration_id -> BigInt,
        service_id -> BigInt,
        actor_id -> Nullable<BigInt>,
        action -> Text,
        detail -> Text,
        created_at -> Timestamp,
    }
}

diesel::joinable!(team_members -> teams (team_id));
diesel::joinable!(team_members -> users (user_id));
diesel::joinable!(services -> teams (team_id));
diesel::joinable!(integrations -> services (service_id));
diesel::joinable!(integration_audit -> users (actor_id));

diesel::allow_tables_to_appear_in_same_query!(
    users,
    teams,
    team_members,
    services,
    integrations,
    integration_audit,
);

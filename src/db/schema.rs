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
        notify_on_resolve -> Bool,
        time_zone -> Text,
    }
}

diesel::table! {
    contact_methods (id) {
        id -> BigInt,
        unique_id -> Text,
        user_id -> BigInt,
        channel -> Text,
        address -> Text,
        is_account -> Bool,
        confirmed_at -> Nullable<Timestamp>,
        confirmation_token_hash -> Nullable<Text>,
        confirmation_sent_at -> Nullable<Timestamp>,
        confirmation_notification -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    notification_rules (id) {
        id -> BigInt,
        unique_id -> Text,
        user_id -> BigInt,
        contact_method_id -> BigInt,
        urgency -> Text,
        delay_minutes -> Integer,
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
        unique_id -> Text,
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
        escalation_policy_id -> Nullable<BigInt>,
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

diesel::table! {
    incident_counter (id) {
        id -> Integer,
        last_number -> BigInt,
    }
}

diesel::table! {
    incidents (id) {
        id -> BigInt,
        incident_number -> BigInt,
        unique_id -> Text,
        incident_key -> Text,
        service_id -> BigInt,
        title -> Text,
        summary -> Text,
        status -> Integer,
        urgency -> Integer,
        priority -> Integer,
        assigned_to -> Nullable<BigInt>,
        created_by -> Nullable<BigInt>,
        creation_date -> Timestamp,
        acknowledged_date -> Nullable<Timestamp>,
        resolved_date -> Nullable<Timestamp>,
        context_window_start -> Timestamp,
        context_window_end -> Timestamp,
        merged_with -> Nullable<BigInt>,
        entity_id -> Nullable<Text>,
    }
}

diesel::table! {
    incident_notes (id) {
        id -> BigInt,
        unique_id -> Text,
        incident_id -> BigInt,
        user_id -> Nullable<BigInt>,
        note -> Text,
        creation_date -> Timestamp,
    }
}

diesel::table! {
    deliveries (id) {
        id -> BigInt,
        unique_id -> Text,
        integration_id -> BigInt,
        incident_id -> Nullable<BigInt>,
        event_type -> Text,
        payload -> Text,
        is_test -> Bool,
        state -> Text,
        attempt_count -> Integer,
        next_attempt_at -> Timestamp,
        locked_by -> Nullable<Text>,
        locked_until -> Nullable<Timestamp>,
        last_status_code -> Nullable<Integer>,
        last_error -> Nullable<Text>,
        created_at -> Timestamp,
        completed_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    delivery_attempts (id) {
        id -> BigInt,
        delivery_id -> BigInt,
        started_at -> Timestamp,
        duration_ms -> BigInt,
        request_headers -> Text,
        status_code -> Nullable<Integer>,
        response_headers -> Text,
        response_body -> Text,
        error_kind -> Nullable<Text>,
        error_message -> Nullable<Text>,
    }
}

diesel::table! {
    timeline_entries (id) {
        id -> BigInt,
        incident_id -> BigInt,
        kind -> Text,
        actor_user_id -> Nullable<BigInt>,
        actor_label -> Text,
        detail -> Text,
        delivery_id -> Nullable<BigInt>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    alerts (id) {
        id -> BigInt,
        unique_id -> Text,
        integration_id -> BigInt,
        incident_id -> Nullable<BigInt>,
        alert_type -> Integer,
        message -> Text,
        summary -> Text,
        entity_id -> Text,
        suppressed -> Bool,
        payload -> Text,
        urls -> Text,
        creation_date -> Timestamp,
    }
}

diesel::table! {
    api_keys (id) {
        id -> BigInt,
        name -> Text,
        key_hash -> Text,
        key_prefix -> Text,
        user_id -> BigInt,
        created_at -> Timestamp,
        last_used_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    user_sessions (id) {
        id -> BigInt,
        user_id -> BigInt,
        token_hash -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    collated_entities (id) {
        id -> BigInt,
        service_id -> BigInt,
        entity_id -> Text,
        incident_id -> BigInt,
    }
}

diesel::table! {
    schedules (id) {
        id -> BigInt,
        unique_id -> Text,
        team_id -> BigInt,
        name -> Text,
        summary -> Text,
        description -> Text,
        time_zone -> Text,
        created_by -> Nullable<BigInt>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    schedule_layers (id) {
        id -> BigInt,
        unique_id -> Text,
        schedule_id -> BigInt,
        position -> Integer,
        name -> Text,
        shift_length -> BigInt,
        rotation_start_time -> Timestamp,
        rotation_end_time -> Nullable<Timestamp>,
        restriction_type -> Integer,
        is_active -> Bool,
    }
}

diesel::table! {
    schedule_layer_users (id) {
        id -> BigInt,
        layer_id -> BigInt,
        user_id -> BigInt,
        position -> Integer,
    }
}

diesel::table! {
    schedule_restrictions (id) {
        id -> BigInt,
        layer_id -> BigInt,
        start_day_of_week -> Integer,
        start_time_of_day -> Text,
        duration -> BigInt,
    }
}

diesel::table! {
    schedule_overrides (id) {
        id -> BigInt,
        unique_id -> Text,
        schedule_id -> BigInt,
        name -> Text,
        user_id -> BigInt,
        start_time -> Timestamp,
        end_time -> Timestamp,
        created_by -> Nullable<BigInt>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    escalation_policies (id) {
        id -> BigInt,
        unique_id -> Text,
        team_id -> BigInt,
        name -> Text,
        summary -> Text,
        description -> Text,
        repeat_policy -> Integer,
        move_to_next -> Bool,
        created_by -> Nullable<BigInt>,
        created_at -> Timestamp,
        frozen_rules -> Nullable<Text>,
    }
}

diesel::table! {
    escalation_rules (id) {
        id -> BigInt,
        unique_id -> Text,
        policy_id -> BigInt,
        position -> Integer,
        delay -> Integer,
    }
}

diesel::table! {
    escalation_targets (id) {
        id -> BigInt,
        rule_id -> BigInt,
        target_type -> Integer,
        schedule_id -> Nullable<BigInt>,
        user_id -> Nullable<BigInt>,
    }
}

diesel::table! {
    on_call_audit (id) {
        id -> BigInt,
        team_id -> BigInt,
        subject_type -> Text,
        subject_id -> BigInt,
        actor_id -> Nullable<BigInt>,
        action -> Text,
        detail -> Text,
        created_at -> Timestamp,
    }
}

diesel::joinable!(schedules -> teams (team_id));
diesel::joinable!(schedule_layers -> schedules (schedule_id));
diesel::joinable!(schedule_layer_users -> schedule_layers (layer_id));
diesel::joinable!(schedule_layer_users -> users (user_id));
diesel::joinable!(schedule_restrictions -> schedule_layers (layer_id));
diesel::joinable!(schedule_overrides -> schedules (schedule_id));
diesel::joinable!(escalation_policies -> teams (team_id));
diesel::joinable!(escalation_rules -> escalation_policies (policy_id));
diesel::joinable!(escalation_targets -> escalation_rules (rule_id));
diesel::joinable!(escalation_targets -> schedules (schedule_id));
diesel::joinable!(services -> escalation_policies (escalation_policy_id));
diesel::joinable!(on_call_audit -> users (actor_id));

diesel::table! {
    escalations (id) {
        id -> BigInt,
        incident_id -> BigInt,
        policy_id -> Nullable<BigInt>,
        policy_name -> Text,
        rules -> Text,
        repeat_policy -> Integer,
        started_at -> Timestamp,
        ended_at -> Nullable<Timestamp>,
        end_reason -> Nullable<Text>,
    }
}

diesel::table! {
    escalation_steps (id) {
        id -> BigInt,
        escalation_id -> BigInt,
        incident_id -> BigInt,
        level -> Integer,
        round -> Integer,
        due_at -> Timestamp,
        state -> Text,
        locked_by -> Nullable<Text>,
        locked_until -> Nullable<Timestamp>,
        fired_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    notifications (id) {
        id -> BigInt,
        unique_id -> Text,
        incident_id -> Nullable<BigInt>,
        escalation_step_id -> Nullable<BigInt>,
        user_id -> BigInt,
        channel -> Text,
        address -> Text,
        kind -> Text,
        state -> Text,
        attempt_count -> Integer,
        next_attempt_at -> Timestamp,
        locked_by -> Nullable<Text>,
        locked_until -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
        created_at -> Timestamp,
        completed_at -> Nullable<Timestamp>,
        acknowledged_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    notification_attempts (id) {
        id -> BigInt,
        notification_id -> BigInt,
        started_at -> Timestamp,
        duration_ms -> BigInt,
        reply_code -> Nullable<Integer>,
        reply_text -> Text,
        error -> Nullable<Text>,
    }
}

diesel::joinable!(escalations -> incidents (incident_id));
diesel::joinable!(escalation_steps -> escalations (escalation_id));
diesel::joinable!(notifications -> incidents (incident_id));
diesel::joinable!(notifications -> users (user_id));
diesel::joinable!(notification_attempts -> notifications (notification_id));
diesel::joinable!(contact_methods -> users (user_id));
diesel::joinable!(notification_rules -> contact_methods (contact_method_id));

diesel::joinable!(user_sessions -> users (user_id));
diesel::joinable!(collated_entities -> incidents (incident_id));
diesel::joinable!(incidents -> services (service_id));
diesel::joinable!(deliveries -> integrations (integration_id));
diesel::joinable!(delivery_attempts -> deliveries (delivery_id));
diesel::joinable!(timeline_entries -> incidents (incident_id));
diesel::joinable!(incident_notes -> incidents (incident_id));

diesel::allow_tables_to_appear_in_same_query!(
    users,
    app_settings,
    login_failures,
    teams,
    team_members,
    services,
    integrations,
    integration_audit,
    incident_counter,
    incidents,
    incident_notes,
    deliveries,
    delivery_attempts,
    timeline_entries,
    alerts,
    api_keys,
    user_sessions,
    collated_entities,
    schedules,
    schedule_layers,
    schedule_layer_users,
    schedule_restrictions,
    schedule_overrides,
    escalation_policies,
    escalation_rules,
    escalation_targets,
    on_call_audit,
    escalations,
    escalation_steps,
    notifications,
    notification_attempts,
    contact_methods,
    notification_rules,
);

//! The diesel schema, one for both backends. Keep in step with `migrations/{sqlite,postgres}`;
//! `core/tests/store_schema.rs` migrates a fresh SQLite file and a fresh PostgreSQL database
//! and writes and reads every table through this schema.

diesel::table! {
    users (id) {
        id -> Text,
        extension -> Text,
        display_name -> Text,
        email -> Nullable<Text>,
        phone_uri -> Nullable<Text>,
        pin_hash -> Nullable<Text>,
        password_hash -> Nullable<Text>,
        role -> Text,
        timezone -> Text,
        name_blob -> Nullable<Text>,
        created_at -> Timestamp,
        pin_failures -> Integer,
        pin_locked_until -> Nullable<Timestamp>,
        receipts_seen_at -> Nullable<Timestamp>,
        disabled_at -> Nullable<Timestamp>,
        login_failures -> Integer,
        login_locked_until -> Nullable<Timestamp>,
        status -> Text,
    }
}

diesel::table! {
    contacts (owner_id, contact_id) {
        owner_id -> Text,
        contact_id -> Text,
        speed_dial -> Nullable<Integer>,
    }
}

diesel::table! {
    groups (id) {
        id -> Text,
        number -> Text,
        name -> Text,
        owner_id -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    group_members (group_id, user_id) {
        group_id -> Text,
        user_id -> Text,
    }
}

diesel::table! {
    delivery_profiles (user_id) {
        user_id -> Text,
        channels -> Text,
        quiet_hours -> Nullable<Text>,
        sender_rules -> Text,
        updated_at -> Timestamp,
        attach_audio -> Bool,
    }
}

diesel::table! {
    devices (id) {
        id -> Text,
        user_id -> Text,
        kind -> Text,
        address -> Text,
        verified_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        verify_hash -> Nullable<Text>,
        sip_username -> Nullable<Text>,
        sip_realm -> Nullable<Text>,
        sip_ha1_md5 -> Nullable<Text>,
        sip_ha1_sha256 -> Nullable<Text>,
        trusted -> Bool,
        mwi_unsolicited -> Bool,
        sip_failures -> Integer,
    }
}

diesel::table! {
    registrations (device_id, contact) {
        device_id -> Text,
        contact -> Text,
        user_id -> Text,
        source -> Text,
        path -> Nullable<Text>,
        call_id -> Text,
        cseq -> BigInt,
        node_id -> Text,
        user_agent -> Nullable<Text>,
        expires_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    mwi_subscriptions (id) {
        id -> Text,
        device_id -> Text,
        user_id -> Text,
        call_id -> Text,
        their_tag -> Text,
        our_tag -> Text,
        their_uri -> Text,
        our_uri -> Text,
        contact -> Text,
        source -> Text,
        route_set -> Nullable<Text>,
        cseq -> BigInt,
        expires_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    messages (id) {
        id -> Text,
        sender_id -> Text,
        origin -> Text,
        state -> Text,
        duration_ms -> Integer,
        blob_key -> Nullable<Text>,
        content_type -> Text,
        urgent -> Bool,
        created_at -> Timestamp,
        completed_at -> Nullable<Timestamp>,
        cancelled_at -> Nullable<Timestamp>,
        sent_to -> Nullable<Text>,
    }
}

diesel::table! {
    attachments (id) {
        id -> Text,
        message_id -> Text,
        filename -> Text,
        content_type -> Text,
        size_bytes -> BigInt,
        blob_key -> Text,
    }
}

diesel::table! {
    message_recipients (message_id, recipient_id) {
        message_id -> Text,
        recipient_id -> Text,
        state -> Text,
        channel -> Nullable<Text>,
        created_at -> Timestamp,
        delivered_at -> Nullable<Timestamp>,
        played_at -> Nullable<Timestamp>,
        deleted_at -> Nullable<Timestamp>,
        reason -> Nullable<Text>,
        marked_unheard -> Bool,
    }
}

diesel::table! {
    delivery_attempts (id) {
        id -> Text,
        message_id -> Text,
        recipient_id -> Text,
        channel -> Text,
        endpoint -> Nullable<Text>,
        due_at -> Timestamp,
        give_up_at -> Nullable<Timestamp>,
        state -> Text,
        detail -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    receipts (id) {
        id -> Text,
        message_id -> Text,
        recipient_id -> Text,
        sender_id -> Text,
        kind -> Text,
        channel -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    plugins (id) {
        id -> Text,
        name -> Text,
        version -> Text,
        sha256 -> Text,
        wasm -> Binary,
        enabled -> Bool,
        priority -> Integer,
        calls -> BigInt,
        failures -> BigInt,
        created_at -> Timestamp,
        config -> Text,
        updated_at -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
        total_micros -> BigInt,
    }
}

diesel::table! {
    live_chunks (message_id, seq) {
        message_id -> Text,
        seq -> Integer,
        body -> Binary,
    }
}

diesel::table! {
    nodes (id) {
        id -> Text,
        services -> Text,
        host -> Text,
        pid -> Integer,
        started_at -> Timestamp,
        heartbeat_at -> Timestamp,
        active_calls -> Nullable<Integer>,
    }
}

diesel::table! {
    plugin_logs (id) {
        id -> BigInt,
        plugin -> Text,
        at -> Timestamp,
        level -> Text,
        message -> Text,
    }
}

diesel::table! {
    presence (user_id) {
        user_id -> Text,
        node -> Text,
        status -> Text,
        heartbeat_at -> Timestamp,
    }
}

diesel::table! {
    sessions (token_hash) {
        token_hash -> Text,
        user_id -> Text,
        kind -> Text,
        csrf_token -> Nullable<Text>,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        name -> Nullable<Text>,
        last_used_at -> Nullable<Timestamp>,
        scopes -> Text,
        flash -> Nullable<Text>,
    }
}

diesel::table! {
    outbox (seq) {
        seq -> BigInt,
        event_id -> Text,
        exchange -> Text,
        routing_key -> Text,
        payload -> Text,
        created_at -> Timestamp,
        attempts -> Integer,
        last_error -> Nullable<Text>,
        next_attempt_at -> Timestamp,
    }
}

diesel::table! {
    processed_events (consumer, event_id) {
        consumer -> Text,
        event_id -> Text,
        processed_at -> Timestamp,
    }
}

diesel::joinable!(contacts -> users (contact_id));
diesel::joinable!(group_members -> groups (group_id));
diesel::joinable!(group_members -> users (user_id));
diesel::table! {
    recordings (message_id) {
        message_id -> Text,
        node_id -> Text,
        spool_path -> Text,
        started_at -> Timestamp,
    }
}

diesel::table! {
    claims (work) {
        work -> Text,
        node_id -> Text,
        until -> Timestamp,
    }
}

diesel::table! {
    form_submissions (token) {
        token -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    upload_keys (sender_id, idem_key) {
        sender_id -> Text,
        idem_key -> Text,
        fingerprint -> Text,
        message_id -> Text,
        created_at -> Timestamp,
    }
}

diesel::joinable!(messages -> users (sender_id));
diesel::joinable!(message_recipients -> messages (message_id));
diesel::joinable!(message_recipients -> users (recipient_id));
diesel::joinable!(receipts -> messages (message_id));
diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(registrations -> devices (device_id));
diesel::joinable!(mwi_subscriptions -> devices (device_id));

diesel::allow_tables_to_appear_in_same_query!(
    claims,
    form_submissions,
    recordings,
    upload_keys,
    live_chunks,
    nodes,
    plugin_logs,
    users,
    contacts,
    groups,
    group_members,
    delivery_profiles,
    devices,
    registrations,
    mwi_subscriptions,
    messages,
    attachments,
    message_recipients,
    delivery_attempts,
    receipts,
    plugins,
    presence,
    sessions,
    outbox,
    processed_events,
);

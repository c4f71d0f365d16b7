// @generated automatically by Diesel CLI.

diesel::table! {
    health_metrics (id) {
        id -> Integer,
        server_id -> Text,
        status -> Text,
        response_time -> Nullable<Integer>,
        error_message -> Nullable<Text>,
        timestamp -> Timestamp,
    }
}

diesel::table! {
    servers (id) {
        id -> Text,
        name -> Text,
        #[sql_name = "type"]
        type_ -> Text,
        image -> Nullable<Text>,
        status -> Text,
        port -> Nullable<Integer>,
        container_id -> Nullable<Text>,
        config -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        command -> Nullable<Text>,
        args -> Text,
        working_directory -> Nullable<Text>,
        process_id -> Nullable<Integer>,
        health_endpoint -> Nullable<Text>,
        last_health_check -> Nullable<Timestamp>,
        health_status -> Text,
        transport -> Text,
        url -> Nullable<Text>,
        env -> Text,
        secret_env -> Text,
        restart_policy -> Text,
        desired_state -> Text,
        last_exit -> Nullable<Text>,
        last_error -> Nullable<Text>,
        restart_count -> Integer,
        generation -> BigInt,
        process_group -> Nullable<Integer>,
        mcp_info -> Nullable<Text>,
    }
}

diesel::joinable!(health_metrics -> servers (server_id));

diesel::allow_tables_to_appear_in_same_query!(health_metrics, servers,);

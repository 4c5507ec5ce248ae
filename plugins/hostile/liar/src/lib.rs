//! Hostile fixture: returns plans the host must refuse. The config picks the lie:
//! "channel" (a channel that does not exist), "endpoint" (someone else's phone), "empty" (a
//! plan with no attempts).

hostile_fixture::plugin!("liar", |request| {
    use hark::delivery::types::Attempt;
    if dry_run(&request) {
        return Ok(Decision::Pass);
    }
    let attempt = |channel: &str, endpoint: Option<&str>| Attempt {
        channel: channel.into(),
        endpoint_id: endpoint.map(Into::into),
        start_after_secs: 0,
        give_up_after_secs: None,
    };
    Ok(Decision::Plan(match request.config.as_str() {
        "endpoint" => vec![attempt("callback", Some("sip:attacker@evil.example"))],
        "empty" => vec![],
        _ => vec![attempt("carrier-pigeon", None)],
    }))
});

//! Hostile fixture: plan() traps.

hostile_fixture::plugin!("trap", |request| {
    if dry_run(&request) {
        return Ok(Decision::Pass);
    }
    panic!("hostile plugin traps on purpose")
});

//! Hostile fixture: plan() never returns. The host's epoch deadline must stop it. With the
//! configuration `loops:K` it counts to K and passes: a fixed amount of work, so a test can
//! find the fuel it takes and stand at that limit and one unit under it.

hostile_fixture::plugin!("spin", |request| {
    if dry_run(&request) {
        return Ok(Decision::Pass);
    }
    if let Some(k) = request.config.strip_prefix("loops:") {
        let k: u64 = k.parse().unwrap_or(0);
        let mut n: u64 = 0;
        while core::hint::black_box(n) < k {
            n += 1;
        }
        return Ok(Decision::Pass);
    }
    let mut n: u64 = 0;
    loop {
        n = core::hint::black_box(n.wrapping_add(1));
    }
});

//! Hostile fixture: plan() allocates without end. The host's memory limit must stop it.
//! With the configuration `pages:N` it instead grows its linear memory to exactly N 64 KiB
//! pages and passes, so a test can stand at the limit and one page past it.

hostile_fixture::plugin!("membomb", |request| {
    if dry_run(&request) {
        return Ok(Decision::Pass);
    }
    if let Some(pages) = request.config.strip_prefix("pages:") {
        let want: usize = pages.parse().unwrap_or(0);
        let have = core::arch::wasm32::memory_size(0);
        if want > have && core::arch::wasm32::memory_grow(0, want - have) == usize::MAX {
            return Err(PluginError::Internal("memory.grow refused".into()));
        }
        return Ok(Decision::Pass);
    }
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        hoard.push(core::hint::black_box(vec![7u8; 1 << 20]));
    }
});

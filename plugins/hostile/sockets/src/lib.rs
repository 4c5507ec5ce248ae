//! Hostile fixture: imports WASI sockets. The host must refuse it at load.

hostile_fixture::plugin!("sockets", |_request| {
    match std::net::TcpStream::connect("127.0.0.1:9") {
        Ok(_) => Err(PluginError::Internal("reached the network".into())),
        Err(_) => Ok(Decision::Pass),
    }
});

//! `dondoc simulate` and the built-in simulator (`simulator.enabled`): a simulated one-stop and
//! document system on a socket. It never touches the database.

use super::*;

/// The built-in simulator's options for the configured units.
pub fn sim_options(s: &Settings) -> SimOptions {
    let units = s
        .units
        .iter()
        .map(|u| SimUnit {
            one_stop_codes: u.one_stop_codes.clone(),
            document_codes: u.document_codes.clone(),
        })
        .collect();
    let mut o = SimOptions::new(s.simulator.seed, units);
    o.dossiers = s.simulator.dossiers;
    o.documents = s.simulator.documents;
    o
}

/// The built-in simulator when the configuration enables it (`[simulator] enabled`), on its
/// `listen` address; it stops when the returned sender is dropped. `None` when disabled.
pub async fn start_configured_simulator(
    settings: &Settings,
    clock: Arc<dyn Clock>,
) -> Result<Option<tokio::sync::oneshot::Sender<()>>, Failure> {
    if !settings.simulator.enabled {
        return Ok(None);
    }
    let (addr, _, stop) =
        start_simulator(sim_options(settings), &settings.simulator.listen, clock).await?;
    tracing::info!(%addr, "built-in simulator started");
    Ok(Some(stop))
}

/// Starts the simulator on `listen`; it stops when the returned sender is dropped or fired.
pub async fn start_simulator(
    options: SimOptions,
    listen: &str,
    clock: Arc<dyn Clock>,
) -> Result<(SocketAddr, Arc<Simulator>, tokio::sync::oneshot::Sender<()>), Failure> {
    let listener = tokio::net::TcpListener::bind(listen).await.map_err(|e| {
        Failure::work(format!("the simulator cannot listen on {listen}: {e}. Is another dondoc or simulator running? Change simulator.listen"))
    })?;
    let addr = listener
        .local_addr()
        .map_err(|e| Failure::work(e.to_string()))?;
    let sim = Simulator::new(options, clock);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = sim.clone();
    tokio::spawn(async move {
        if let Err(e) = server
            .serve(listener, async move {
                let _ = rx.await;
            })
            .await
        {
            tracing::error!(error = %e, "the simulator stopped");
        }
    });
    Ok((addr, sim, tx))
}

pub(super) async fn simulate(
    settings: &Settings,
    clock: Arc<dyn Clock>,
    a: &SimulateArgs,
) -> Result<(), Failure> {
    let mut o = sim_options(settings);
    if let Some(seed) = a.seed {
        o.seed = seed;
    }
    if let Some(n) = a.dossiers {
        o.dossiers = n;
    }
    if let Some(n) = a.documents {
        o.documents = n;
    }
    o.history_days = a.history_days;
    o.faults = Faults {
        error_503_share: a.error_503_share,
        error_429_share: a.error_429_share,
        retry_after_secs: a.retry_after_secs,
        latency_ms: a.latency_ms,
        invalid_share: a.invalid_share,
    };
    let listen = a
        .listen
        .map(|l| l.to_string())
        .unwrap_or_else(|| settings.simulator.listen.clone());
    let (addr, _sim, stop) = start_simulator(o, &listen, clock).await?;
    println!("dondoc simulator serving http://{addr}/ho-so, /thu-tuc, /van-ban — Ctrl-C to stop");
    let _ = tokio::signal::ctrl_c().await;
    let _ = stop.send(());
    Ok(())
}

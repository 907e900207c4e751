use clap::Parser;
use klaxon::{config::Config, startup::Application, telemetry};

/// glibc raises its mmap threshold after a large block is freed, so the 19 MiB that each
/// argon2 hash borrows would afterwards come from per-thread heaps and stay resident (one
/// copy per blocking thread). A fixed threshold keeps such blocks mmapped and returned.
fn keep_large_allocations_mmapped() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator tuning; called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
    }
}

fn main() -> std::process::ExitCode {
    keep_large_allocations_mmapped();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("the tokio runtime starts")
        .block_on(serve())
}

async fn serve() -> std::process::ExitCode {
    let config = Config::parse();
    telemetry::init(config.log_format, &config.log_filter);
    match Application::build(config).await {
        Ok(app) => {
            let url = format!("http://{}", app.local_addr());
            tracing::info!(%url, "Klaxon is ready");
            println!("Klaxon is running: open {url}");
            match app.run_until_stopped().await {
                Ok(()) => std::process::ExitCode::SUCCESS,
                Err(error) => {
                    eprintln!("klaxon: {error:#}");
                    std::process::ExitCode::FAILURE
                }
            }
        }
        Err(error) => {
            eprintln!("klaxon: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

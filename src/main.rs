use clap::Parser;
use klaxon::config::{unset_empty_settings, Cli, Command, Config};
use klaxon::{startup::Application, telemetry, transfer};

/// glibc raises its mmap threshold after a large block is freed, so the 19 MiB that each
/// argon2 hash borrows would afterwards come from per-thread heaps and stay resident (one
/// copy per blocking thread). A fixed threshold keeps such blocks mmapped and returned.
fn keep_large_allocations_mmapped() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[allow(unsafe_code)]
    // SAFETY: mallopt only changes allocator tuning; called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
    }
}

fn main() -> std::process::ExitCode {
    keep_large_allocations_mmapped();
    unset_empty_settings();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("the tokio runtime starts")
        .block_on(run(Cli::parse()))
}

async fn run(cli: Cli) -> std::process::ExitCode {
    // Export and import report on standard error: standard output may be the export itself.
    let moved = match cli.command {
        None => return serve(cli.config).await,
        Some(Command::Export { output }) => transfer::export(&cli.config.database_url, output)
            .await
            .map(|summary| ("exported", "from", summary)),
        Some(Command::Import { file }) => transfer::import(&cli.config.database_url, &file)
            .await
            .map(|summary| ("imported", "into", summary)),
    };
    match moved {
        Ok((verb, preposition, summary)) => {
            eprintln!(
                "klaxon: {verb} {} rows of {} tables {preposition} {}",
                summary.rows(),
                summary.counts.len(),
                summary.database
            );
            std::process::ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("klaxon: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config) -> std::process::ExitCode {
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

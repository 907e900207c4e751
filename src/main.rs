use clap::Parser;
use klaxon::{config::Config, startup::Application, telemetry};

#[tokio::main]
async fn main() -> std::process::ExitCode {
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

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = connect_tokens::cli::Cli::parse();
    connect_tokens::cli::init_logging(cli.global.log_format);
    match connect_tokens::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = contactsync::cli::Cli::parse();
    // Before the runtime's threads exist: each would otherwise be free to grow an arena.
    contactsync::malloc_tuning::limit_arenas();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: starting the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(contactsync::cli::run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

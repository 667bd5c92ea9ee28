fn main() -> std::process::ExitCode {
    optimize::cli::main()
}

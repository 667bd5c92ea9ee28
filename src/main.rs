fn main() -> std::process::ExitCode {
    optimize::commands::main()
}

fn main() {
    std::process::exit(cpt_engine::cli::main_with_args(std::env::args_os()));
}

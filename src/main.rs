//! The doorway: run the library, turn its result into an exit code.

fn main() {
    std::process::exit(hoss::main_entry());
}

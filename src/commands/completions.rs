//! `optimize completions <shell>` and `optimize man`: generated from the
//! same clap definitions the command line is parsed with.

use crate::cli::CompletionsArgs;
use crate::error::CliError;

pub fn completions(args: &CompletionsArgs) -> Result<(), CliError> {
    let mut command = crate::cli::definition();
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut command, "optimize", &mut out);
    crate::out!("{}", String::from_utf8_lossy(&out));
    Ok(())
}

pub fn man() -> Result<(), CliError> {
    let mut out = Vec::new();
    clap_mangen::Man::new(crate::cli::definition())
        .render(&mut out)
        .map_err(|e| CliError::failure("cannot render the manual page").caused_by(e))?;
    crate::out!("{}", String::from_utf8_lossy(&out));
    Ok(())
}

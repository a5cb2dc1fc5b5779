use clap::Args;

#[derive(Args, Debug)]
pub struct RunArgs {}

pub fn execute(_args: RunArgs) -> crate::Result<()> {
    Err(crate::Error::Config("'run' is being built".into()))
}

use clap::Args;

#[derive(Args, Debug)]
pub struct TokenizeArgs {}

pub fn execute(_args: TokenizeArgs) -> crate::Result<()> {
    Err(crate::Error::Config("'tokenize' is being built".into()))
}

"""The offline sandbox: the real Pulumi program and handler on an embedded AWS emulator (moto)."""

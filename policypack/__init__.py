"""A Pulumi policy pack: the pipeline's security and data-protection rules, mandatory on every stack."""

"""Citizens' data, RGPD by design: their rights (export, erasure), retention and anonymisation, the privacy notice."""

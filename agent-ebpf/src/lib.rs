//! Empty library target so cargo accepts this crate as a build-dependency of
//! `lanner` (aya-template layout); the programs are the `lanner-probes` bin.
#![no_std]

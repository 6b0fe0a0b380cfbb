//! A real overlayfs mount for the tests of the overlay layer fields
//! (`proc.is_exe_*_layer`, `fd.is_*_layer`): lower, upper, work and merged
//! directories under one directory, unmounted and removed on drop.
use std::{
    path::{Path, PathBuf},
    process::Command,
};

pub struct Overlay {
    dir: PathBuf,
    /// The merged view: what a container sees.
    pub merged: PathBuf,
}

impl Overlay {
    /// Mount an overlay under `dir` with `files` (name, contents; mode 0755, so
    /// a binary among them runs) in its lower layer, the image's part.
    pub fn mount(dir: &Path, files: &[(&str, &[u8])]) -> Overlay {
        let (lower, upper, work, merged) = (dir.join("lower"), dir.join("upper"), dir.join("work"), dir.join("merged"));
        for d in [&lower, &upper, &work, &merged] {
            std::fs::create_dir_all(d).unwrap_or_else(|e| panic!("{}: {e}", d.display()));
        }
        for (name, bytes) in files {
            let path = lower.join(name);
            std::fs::write(&path, bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
            let exec = std::os::unix::fs::PermissionsExt::from_mode(0o755);
            std::fs::set_permissions(&path, exec).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        let opts = format!("lowerdir={},upperdir={},workdir={}", lower.display(), upper.display(), work.display());
        let st = Command::new("mount")
            .args(["-t", "overlay", "overlay", "-o", &opts])
            .arg(&merged)
            .status()
            .unwrap_or_else(|e| panic!("mount: {e}"));
        assert!(st.success(), "mount overlay on {}", merged.display());
        Overlay { dir: dir.to_path_buf(), merged }
    }
}

impl Drop for Overlay {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.merged).status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

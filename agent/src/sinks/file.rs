//! File sink: JSON lines (as on stdout) appended to a file that is rotated by
//! size (`alerts.json` → `alerts.json.1` … `.N`), for nodes without a log
//! shipper reading stdout. File I/O runs on the blocking pool, one batch at a
//! time (the stdout sink's loop), so a slow disk never stalls the runtime.
use std::{
    fs::{File, OpenOptions},
    io::Write as _,
    path::{Path, PathBuf},
    sync::Arc,
};

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::{
    default_queue, invalid,
    stdout::{run_lines, LineWriter},
    AlertPayload, SinkError,
};
use crate::metrics::SinkMetrics;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default = "default_queue")]
    pub queue_capacity: usize,
    pub path: PathBuf,
    /// Rotate when the file would exceed this size.
    #[serde(default = "default_max_bytes")]
    pub max_bytes: u64,
    /// Rotated files kept (`path.1` … `path.N`); 0 keeps none.
    #[serde(default = "default_max_files")]
    pub max_files: u32,
}

fn default_max_bytes() -> u64 {
    100 << 20
}

fn default_max_files() -> u32 {
    5
}

impl FileConfig {
    pub fn build(&self, name: &str) -> Result<FileSink, SinkError> {
        if self.max_bytes < 4096 {
            return Err(invalid(name, "max_bytes must be at least 4096"));
        }
        if self.path.file_name().is_none() {
            return Err(invalid(name, format!("path {} is not a file path", self.path.display())));
        }
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| invalid(name, format!("creating {}: {e}", dir.display())))?;
        }
        let file = RotatingFile::open(&self.path, self.max_bytes, self.max_files)
            .map_err(|e| invalid(name, format!("opening {}: {e}", self.path.display())))?;
        Ok(FileSink { file })
    }
}

#[derive(Debug)]
pub struct FileSink {
    file: RotatingFile,
}

impl FileSink {
    pub async fn run<A: AlertPayload>(self, rx: mpsc::Receiver<Arc<A>>, m: SinkMetrics) {
        run_lines(rx, self.file, 256, m).await;
    }
}

impl LineWriter for RotatingFile {
    fn write_lines(&mut self, buf: &[u8]) -> std::io::Result<()> {
        RotatingFile::write_lines(self, buf)
    }
}

/// A file rotated by size, written line by line.
#[derive(Debug)]
pub struct RotatingFile {
    path: PathBuf,
    max_bytes: u64,
    max_files: u32,
    file: Option<File>,
    len: u64,
}

impl RotatingFile {
    pub fn open(path: &Path, max_bytes: u64, max_files: u32) -> std::io::Result<Self> {
        let mut f = Self { path: path.to_owned(), max_bytes, max_files, file: None, len: 0 };
        f.reopen()?;
        Ok(f)
    }

    fn reopen(&mut self) -> std::io::Result<()> {
        let file = OpenOptions::new().create(true).append(true).open(&self.path)?;
        self.len = file.metadata()?.len();
        self.file = Some(file);
        Ok(())
    }

    fn rotated(&self, i: u32) -> PathBuf {
        let mut p = self.path.clone().into_os_string();
        p.push(format!(".{i}"));
        p.into()
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        self.file = None;
        if self.max_files == 0 {
            std::fs::remove_file(&self.path)?;
        } else {
            for i in (1..self.max_files).rev() {
                match std::fs::rename(self.rotated(i), self.rotated(i + 1)) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                    _ => {}
                }
            }
            std::fs::rename(&self.path, self.rotated(1))?;
        }
        self.reopen()
    }

    /// Append whole lines, rotating before a line that would cross `max_bytes`.
    pub fn write_lines(&mut self, buf: &[u8]) -> std::io::Result<()> {
        let mut start = 0;
        let mut end = 0;
        for line in buf.split_inclusive(|b| *b == b'\n') {
            if self.len + (end - start + line.len()) as u64 > self.max_bytes && self.len + (end - start) as u64 > 0 {
                self.write_raw(&buf[start..end])?;
                self.rotate()?;
                start = end;
            }
            end += line.len();
        }
        self.write_raw(&buf[start..end])
    }

    fn write_raw(&mut self, b: &[u8]) -> std::io::Result<()> {
        if b.is_empty() {
            return Ok(());
        }
        if self.file.is_none() {
            self.reopen()?;
        }
        let f = self.file.as_mut().expect("file is open");
        f.write_all(b)?;
        self.len += b.len() as u64;
        Ok(())
    }
}

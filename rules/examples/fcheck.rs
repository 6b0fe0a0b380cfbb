fn main() {
    let paths: Vec<std::path::PathBuf> = std::env::args().skip(1).map(Into::into).collect();
    let r = lanner_rules::check_paths(&paths, false);
    println!("{r}");
}

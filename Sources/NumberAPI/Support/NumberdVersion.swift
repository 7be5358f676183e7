/// numberd's version, in one place: what HealthCheck reports, `numberd --version` (and `numbers`, `numbers-load`,
/// `twilio-sim --version`: one package, one version) prints and
/// `numberd_build_info{version}` carries.
public enum NumberdVersion {
    /// The version string (semantic versioning).
    public static let current = "1.0.0"
}

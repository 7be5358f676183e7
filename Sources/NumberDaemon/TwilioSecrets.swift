import Foundation
import NumberAPI

/// Where numberd takes the Twilio secrets from. Each of `TWILIO_AUTH_TOKEN` and `TWILIO_API_KEY_SECRET` may be given
/// in exactly one of three ways:
///
/// - the variable itself (simple, but a systemd `Environment=` line is shown to every user by `systemctl show`, and
///   `docker run -e` by `docker inspect`);
/// - `<VARIABLE>_FILE`, the path of a file holding it (``SecretFile``: mode 0600 or 0400, trailing line ends
///   dropped), e.g. a Docker or Kubernetes secret;
/// - systemd's credentials: `LoadCredential=twilio-auth-token:/etc/numberd/twilio-auth-token` (or
///   `twilio-api-key-secret`) puts it in `$CREDENTIALS_DIRECTORY`, readable by the unit's user only.
///
/// Two ways for the same secret are refused (which one wins would be a guess). The SIDs are not secret and stay
/// plain variables.
enum TwilioSecrets {
    /// Each secret: its variable and its systemd credential's name.
    static let secrets: [(variable: String, credential: String)] = [
        ("TWILIO_AUTH_TOKEN", "twilio-auth-token"), ("TWILIO_API_KEY_SECRET", "twilio-api-key-secret"),
    ]

    /// `environment` with each secret given by file or credential set as its variable (and the `_FILE` variables
    /// gone), ready for `TwilioCredentials.fromEnvironment`; and, per variable, where its value came from. With
    /// `regularOnly` (SIGHUP's reload) each file must be a regular one, opened without waiting (``SecretFile``).
    static func resolve(
        _ environment: [String: String], regularOnly: Bool = false
    ) throws -> (environment: [String: String], sources: [String]) {
        var resolved = environment
        var sources: [String] = []
        for (variable, credential) in secrets {
            let fileVariable = variable + "_FILE"
            resolved[fileVariable] = nil
            let file = environment[fileVariable]
            let credentialFile = environment["CREDENTIALS_DIRECTORY"].flatMap { folder in
                let path = folder + "/" + credential
                return !folder.isEmpty && FileManager.default.fileExists(atPath: path) ? path : nil
            }
            let given = [
                environment[variable].map { _ in variable }, file.map { _ in fileVariable },
                credentialFile.map { _ in "$CREDENTIALS_DIRECTORY/\(credential)" },
            ].compactMap { $0 }
            guard given.count <= 1 else {
                throw ConfigurationError(
                    "\(variable) is given \(given.count) ways (\(given.joined(separator: ", "))): give it one way only")
            }
            do {
                if let file {
                    resolved[variable] = try SecretFile.read(file, name: fileVariable, regularOnly: regularOnly)
                } else if let credentialFile {
                    // systemd made it readable by the unit's user alone (an ACL on tmpfs shows in the group bits).
                    resolved[variable] = try SecretFile.read(
                        credentialFile, name: credential, requirePrivate: false, regularOnly: regularOnly)
                }
            } catch {
                throw ConfigurationError("Twilio credentials: \(error)")
            }
            sources += given
        }
        return (resolved, sources)
    }
}

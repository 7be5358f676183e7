import Foundation

/// Figures from the `openssl` CLI in the same run: what OpenSSL alone achieves on this machine.
enum OpenSSLBaseline {
    /// Runs `openssl` with `arguments` (bounded by `timeoutSeconds`) and returns its stdout+stderr.
    static func run(_ arguments: [String], timeoutSeconds: Double = 30) -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        process.standardInput = FileHandle.nullDevice
        do {
            try ProcessLauncher.run(process)
        } catch {
            return "cannot run openssl: \(error)"
        }
        // The commands end by themselves (-seconds / -time); the timer only guards against a hang.
        DispatchQueue.global().asyncAfter(deadline: .now() + timeoutSeconds) { [process] in
            if process.isRunning {
                kill(process.processIdentifier, SIGKILL)
            }
        }
        let data = (try? pipe.fileHandleForReading.readToEnd()) ?? Data()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }

    /// `openssl speed -seconds 1 ecdsap256`: the result line (sign/s, verify/s).
    static func ecdsaP256() -> String {
        let output = run(["speed", "-seconds", "1", "ecdsap256"])
        return output.split(separator: "\n").last { $0.contains("nistp256") }.map(String.init) ?? output
    }

    /// `openssl speed -seconds 1 -evp aes-128-gcm`: bytes/s per block size.
    static func aes128GCM() -> String {
        let output = run(["speed", "-seconds", "1", "-evp", "aes-128-gcm"])
        return output.split(separator: "\n").last { $0.contains("AES-128-GCM") || $0.contains("aes-128-gcm") }
            .map(String.init) ?? output
    }

    /// `openssl s_time` against our server: OpenSSL's own client making new (or resumed) connections.
    static func sTime(port: Int, seconds: Int, reuse: Bool) -> String {
        let output = run([
            "s_time", "-connect", "127.0.0.1:\(port)", reuse ? "-reuse" : "-new", "-time", "\(seconds)",
        ])
        return output.split(separator: "\n").first { $0.contains("connections/user sec") }.map(String.init)
            ?? output.split(separator: "\n").suffix(3).joined(separator: " | ")
    }
}

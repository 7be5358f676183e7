import NumberCore
import NumberServer

/// Whether numberd should get traffic now, for `GET /readyz` on the metrics listener (probes that cannot speak
/// nrpc/TLS: Kubernetes, Docker): ready while the RPC server listens and is not draining and the store takes writes.
/// Unlike liveness (`/healthz`, the process runs), a failed readiness says "send nothing here": after a failed commit
/// only a restart writes again, so a supervisor should restart it.
struct Readiness: Sendable {
    let server: NumberServer
    let service: NumberService

    /// Why numberd is not ready, in one line; nil when it is.
    func problem() -> String? {
        Self.problem(serving: server.servingState, storeFailure: service.storeFailure)
    }

    /// The rule, on plain values.
    static func problem(serving: NumberServer.ServingState, storeFailure: NumberError?) -> String? {
        if let storeFailure {
            return "the store stopped taking writes (\(storeFailure.reason.rawValue)); restart numberd"
        }
        switch serving {
        case .serving: return nil
        case .starting: return "the RPC server is not listening yet"
        case .draining: return "the RPC server is draining (shutting down)"
        case .stopped: return "the RPC server has stopped"
        }
    }
}

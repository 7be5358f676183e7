import NumberCore
import NumberServer

/// Whether numberd should get traffic now, for `GET /readyz` on the metrics listener (probes that cannot speak
/// nrpc/TLS: Kubernetes, Docker): ready while the RPC server listens and is not draining and the store takes writes.
/// A failed readiness says "send nothing here"; a failed liveness (`GET /healthz`, ``livenessProblem()``) says
/// "restart it", which is what a store that stopped taking writes needs: only a restart writes again, and Kubernetes
/// never restarts a pod for its readiness.
struct Readiness: Sendable {
    let server: NumberServer
    let service: NumberService

    /// Why numberd is not ready, in one line; nil when it is.
    func problem() -> String? {
        Self.problem(serving: server.servingState, storeFailure: service.storeFailure)
    }

    /// Why numberd should be restarted, in one line; nil while it is alive. Only a store that stopped taking writes:
    /// with the default fail-stop handler an I/O failure of the journal traps and the supervisor restarts numberd, so
    /// what is left is a commit the store refused without any I/O (a record over its size limit, a full write queue),
    /// after which numberd serves reads for ever and writes nothing. A full disk (`STORE_FULL`) is no such failure:
    /// writes resume by themselves once there is room, and a restart would not make room.
    func livenessProblem() -> String? {
        Self.livenessProblem(storeFailure: service.storeFailure)
    }

    /// The liveness rule, on plain values.
    static func livenessProblem(storeFailure: NumberError?) -> String? {
        storeFailure.map { "the store stopped taking writes (\($0.reason.rawValue)); only a restart writes again" }
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

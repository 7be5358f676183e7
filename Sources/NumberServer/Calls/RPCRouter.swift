import NIOCore
import NumberAPI
import NumberWire

/// Maps method paths to handlers. A handler takes the decoded request and returns the response or throws; the
/// router turns bytes into messages and errors into statuses.
///
/// ```swift
/// var router = RPCRouter()
/// router.register(NumbersMethods.healthCheck) { request, context in
///     HealthCheckResponse(status: .serving, version: "1")
/// }
/// ```
public struct RPCRouter: Sendable {
    /// A type-erased handler: request payload in, response payload or error out.
    public typealias Handler = @Sendable (ByteBuffer, CallContext) async -> Result<ByteBuffer, RPCError>

    private var handlers: [String: Handler] = [:]
    /// Turns an error that is not an `RPCError` into one (e.g. core errors); the default says `INTERNAL`.
    public var errorMapper: @Sendable (any Error) -> RPCError

    /// Creates an empty router.
    public init(errorMapper: @escaping @Sendable (any Error) -> RPCError = RPCRouter.internalError) {
        self.errorMapper = errorMapper
    }

    /// The fallback mapping: an opaque `INTERNAL` error that leaks nothing of the cause to the caller.
    public static let internalError: @Sendable (any Error) -> RPCError = { _ in
        RPCError(code: .internal, message: "internal error", reason: "INTERNAL")
    }

    /// Registers the handler of one method.
    public mutating func register<Request, Response>(
        _ method: MethodDescriptor<Request, Response>,
        _ body: @escaping @Sendable (Request, CallContext) async throws -> Response
    ) {
        let mapper = self.errorMapper
        handlers[method.path] = { payload, context in
            let request: Request
            do {
                request = try ProtoDecoder().decode(Request.self, from: payload)
            } catch {
                return .failure(
                    RPCError(
                        code: .invalidArgument, message: "the request is not a valid \(Request.self): \(error)",
                        reason: "MALFORMED_REQUEST"))
            }
            do {
                let response = try await body(request, context)
                var buffer = ByteBuffer()
                try ProtoEncoder().encode(response, into: &buffer)
                return .success(buffer)
            } catch let error as RPCError {
                return .failure(error)
            } catch {
                return .failure(mapper(error))
            }
        }
    }

    /// The handler of a method path, nil if none.
    public func handler(for path: String) -> Handler? { handlers[path] }

    /// Every registered path.
    public var paths: [String] { Array(handlers.keys) }
}

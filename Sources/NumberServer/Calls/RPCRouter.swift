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
    /// A type-erased handler that never suspends: it runs inline on the connection's event loop.
    public typealias SynchronousHandler = @Sendable (ByteBuffer, CallContext) -> Result<ByteBuffer, RPCError>

    /// A decoded request's call: runs the method's handler with the request it holds and encodes the response, or
    /// turns the error into a status.
    package typealias DecodedCall = @Sendable (CallContext) async -> Result<ByteBuffer, RPCError>

    /// How a method runs.
    package enum Entry: Sendable {
        /// In a task of the connection's task group (it may suspend: disk, provider). The request is decoded first,
        /// on the connection's event loop as it arrives (as a synchronous method's is), and only the call made from
        /// it goes to the task: a call waiting in the core (for a provider-change slot, a purchase check) holds its
        /// decoded message, not the request's bytes (up to MAX_MESSAGE_PAYLOAD, an unknown field's included) nor the
        /// receive buffer they are a slice of. A request that does not decode is the failure.
        case asynchronous(@Sendable (ByteBuffer) -> Result<DecodedCall, RPCError>)
        /// Inline on the event loop where its request arrived: no task, no thread hop.
        case synchronous(SynchronousHandler)
    }

    private var entries: [String: Entry] = [:]
    /// Turns an error that is not an `RPCError` into one (e.g. core errors), given the call it ended (to log what
    /// the caller is not told, with the request id); the default says `INTERNAL`.
    public var errorMapper: @Sendable (any Error, CallContext) -> RPCError

    /// Creates an empty router.
    public init(errorMapper: @escaping @Sendable (any Error, CallContext) -> RPCError = RPCRouter.internalError) {
        self.errorMapper = errorMapper
    }

    /// The fallback mapping: an opaque `INTERNAL` error that leaks nothing of the cause to the caller.
    public static let internalError: @Sendable (any Error, CallContext) -> RPCError = { _, _ in
        RPCError(code: .internal, message: "internal error", reason: "INTERNAL")
    }

    /// Registers the handler of one method.
    public mutating func register<Request, Response>(
        _ method: MethodDescriptor<Request, Response>,
        _ body: @escaping @Sendable (Request, CallContext) async throws -> Response
    ) {
        let mapper = self.errorMapper
        entries[method.path] = .asynchronous { payload in
            let request: Request
            switch Self.decode(Request.self, payload) {
            case .success(let decoded): request = decoded
            case .failure(let error): return .failure(error)
            }
            // Holds the decoded request only: the payload is let go once this returns.
            let call: DecodedCall = { context in
                do {
                    return try Self.encode(try await body(request, context))
                } catch let error as RPCError {
                    return .failure(error)
                } catch {
                    return .failure(mapper(error, context))
                }
            }
            return .success(call)
        }
    }

    /// Registers a handler that neither suspends nor blocks (an in-memory read): it runs on the connection's event
    /// loop as soon as the request is complete, and its response goes out in the same read burst. Anything that
    /// waits for disk, a lock held across I/O, or the provider must use `register` instead.
    public mutating func registerSynchronous<Request, Response>(
        _ method: MethodDescriptor<Request, Response>,
        _ body: @escaping @Sendable (Request, CallContext) throws -> Response
    ) {
        let mapper = self.errorMapper
        entries[method.path] = .synchronous { payload, context in
            let request: Request
            switch Self.decode(Request.self, payload) {
            case .success(let decoded): request = decoded
            case .failure(let error): return .failure(error)
            }
            do {
                return try Self.encode(try body(request, context))
            } catch let error as RPCError {
                return .failure(error)
            } catch {
                return .failure(mapper(error, context))
            }
        }
    }

    /// The handler of a method path as an async function (synchronous ones included), nil if none.
    public func handler(for path: String) -> Handler? {
        switch entries[path] {
        case .asynchronous(let decode):
            return { payload, context in
                switch decode(payload) {
                case .success(let call): return await call(context)
                case .failure(let error): return .failure(error)
                }
            }
        case .synchronous(let handler): return { payload, context in handler(payload, context) }
        case nil: return nil
        }
    }

    /// How the method at `path` runs, nil if none.
    package func entry(for path: String) -> Entry? { entries[path] }

    /// Every registered path.
    public var paths: [String] { Array(entries.keys) }

    private static func decode<Request: Decodable>(
        _ type: Request.Type, _ payload: ByteBuffer
    ) -> Result<
        Request, RPCError
    > {
        do {
            return .success(try ProtoDecoder().decode(Request.self, from: payload))
        } catch {
            return .failure(
                RPCError(
                    code: .invalidArgument, message: "the request is not a valid \(Request.self): \(error)",
                    reason: "MALFORMED_REQUEST"))
        }
    }

    private static func encode<Response: Encodable>(_ response: Response) throws -> Result<ByteBuffer, RPCError> {
        var buffer = ByteBuffer()
        try ProtoEncoder().encode(response, into: &buffer)
        return .success(buffer)
    }
}

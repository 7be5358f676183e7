import Foundation
import NIOCore
import NIOPosix
import NumberTLS
import Synchronization

@testable import TwilioSimulator

/// What a raw HTTP exchange ended with.
enum RawOutcome: Equatable {
    /// A complete response.
    case response(status: Int, headers: [String: String], body: String)
    /// The server closed (or reset) the connection without sending anything.
    case closedWithoutResponse(reset: Bool)
    /// Nothing arrived before the client's timeout.
    case timedOut

    var status: Int? {
        if case .response(let status, _, _) = self { return status }
        return nil
    }

    var body: String {
        if case .response(_, _, let body) = self { return body }
        return ""
    }

    var json: [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] ?? [:]
    }

    func header(_ name: String) -> String? {
        guard case .response(_, let headers, _) = self else { return nil }
        return headers[name.lowercased()]
    }
}

/// A deliberately small HTTP/1.1 client over NIO sockets that reports resets, silent closes and timeouts,
/// which a real client library would fold into errors.
enum RawHTTPClient {
    private final class Collector: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        private var bytes: [UInt8] = []
        private var reset = false
        private let promise: EventLoopPromise<([UInt8], Bool)>

        init(promise: EventLoopPromise<([UInt8], Bool)>) {
            self.promise = promise
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var buffer = unwrapInboundIn(data)
            bytes += buffer.readBytes(length: buffer.readableBytes) ?? []
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            reset = true
            context.close(promise: nil)
        }

        func channelInactive(context: ChannelHandlerContext) {
            promise.succeed((bytes, reset))
        }
    }

    private final class Flag: Sendable {
        let value = Mutex(false)
    }

    /// How long a call waits for the server before closing the connection itself (`.timedOut`). Only a safety net:
    /// a test that expects a time-out passes its own short one, and a loaded CI run once needed more than 10 s for an
    /// answer that did come (a reset read as a time-out).
    static let cutOffDefault: TimeAmount = .seconds(120)

    static func send(
        port: Int, method: String, path: String, form: [(String, String)] = [], authorization: String?,
        timeout: TimeAmount = cutOffDefault, tls: TLSContext? = nil, serverHostname: String = "127.0.0.1"
    ) async throws -> RawOutcome {
        let group = MultiThreadedEventLoopGroup.singleton
        let promise = group.next().makePromise(of: ([UInt8], Bool).self)
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: group)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        if let tls {
                            try channel.pipeline.syncOperations.addTLSClientHandler(
                                context: tls, serverHostname: serverHostname)
                        }
                        try channel.pipeline.syncOperations.addHandler(Collector(promise: promise))
                    }
                }
                .connect(host: "127.0.0.1", port: port).get()
        } catch {
            // No channel, so no Collector will ever complete the promise: complete it here (a leaked promise traps).
            promise.fail(error)
            throw error
        }
        let timedOut = Flag()
        channel.eventLoop.scheduleTask(in: timeout) {
            timedOut.value.withLock { $0 = true }
            channel.close(promise: nil)
        }
        let body = FormParameters(pairs: form).encoded()
        var text = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n"
        if let authorization { text += "Authorization: \(authorization)\r\n" }
        if !form.isEmpty { text += "Content-Type: application/x-www-form-urlencoded\r\n" }
        text += "Content-Length: \(body.utf8.count)\r\n\r\n" + body
        do {
            try await channel.writeAndFlush(channel.allocator.buffer(string: text))
        } catch  where timedOut.value.withLock({ $0 }) {
            // On a loaded machine the cut-off can close the channel before the request is even written (seen once:
            // the write failed "I/O on closed channel"): the call timed out all the same. The Collector completes
            // the promise as the channel goes inactive.
            return .timedOut
        }
        let (bytes, reset) = try await promise.futureResult.get()
        if bytes.isEmpty {
            return timedOut.value.withLock { $0 } ? .timedOut : .closedWithoutResponse(reset: reset)
        }
        return parse(String(decoding: bytes, as: UTF8.self))
    }

    /// Writes `text` as is and returns everything the server sends until it closes.
    static func exchange(port: Int, text: String) async throws -> String {
        try await exchange(port: port, text: text, cutOff: cutOffDefault).text
    }

    /// Writes `text` as is and returns everything the server sends until the connection closes, and whether the
    /// server closed it (false: this client's own cut-off did).
    static func exchange(
        port: Int, text: String, cutOff: TimeAmount
    ) async throws -> (text: String, closedByServer: Bool) {
        let group = MultiThreadedEventLoopGroup.singleton
        let promise = group.next().makePromise(of: ([UInt8], Bool).self)
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: group)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(Collector(promise: promise))
                    }
                }
                .connect(host: "127.0.0.1", port: port).get()
        } catch {
            promise.fail(error)
            throw error
        }
        let timedOut = Flag()
        channel.eventLoop.scheduleTask(in: cutOff) {
            timedOut.value.withLock { $0 = true }
            channel.close(promise: nil)
        }
        if !text.isEmpty { try await channel.writeAndFlush(channel.allocator.buffer(string: text)) }
        let (bytes, _) = try await promise.futureResult.get()
        return (String(decoding: bytes, as: UTF8.self), !timedOut.value.withLock { $0 })
    }

    private static func parse(_ text: String) -> RawOutcome {
        guard let split = text.range(of: "\r\n\r\n") else { return .closedWithoutResponse(reset: false) }
        let lines = text[..<split.lowerBound].components(separatedBy: "\r\n")
        let status = Int(lines[0].split(separator: " ")[1]) ?? 0
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(
                in: .whitespaces)
        }
        return .response(status: status, headers: headers, body: String(text[split.upperBound...]))
    }
}

/// A simulator started on `127.0.0.1:0` for one test, shut down afterwards.
func withSimulator<T>(
    _ configuration: SimulatorConfiguration = .defaults, _ body: (TwilioSimulator) async throws -> T
) async throws -> T {
    let simulator = try await TwilioSimulator.start(configuration: configuration)
    do {
        let result = try await body(simulator)
        try await simulator.shutdown()
        return result
    } catch {
        try? await simulator.shutdown()
        throw error
    }
}

extension TwilioSimulator {
    var authorization: String { RouterHarness.basic(credentials.accountSid, credentials.authToken) }
    var api: String { "/2010-04-01/Accounts/\(credentials.accountSid)" }

    /// GETs `path` (a path at a Twilio host, `/v1/Trunks`) under the prefix of the API that serves it.
    func get(_ path: String, timeout: TimeAmount = RawHTTPClient.cutOffDefault) async throws -> RawOutcome {
        try await RawHTTPClient.send(
            port: port, method: "GET", path: TwilioAPI.hostedPath(path), authorization: authorization,
            timeout: timeout)
    }

    func post(
        _ path: String, _ form: [(String, String)], timeout: TimeAmount = RawHTTPClient.cutOffDefault
    ) async throws -> RawOutcome {
        try await RawHTTPClient.send(
            port: port, method: "POST", path: TwilioAPI.hostedPath(path), form: form, authorization: authorization,
            timeout: timeout)
    }

    func delete(_ path: String) async throws -> RawOutcome {
        try await RawHTTPClient.send(
            port: port, method: "DELETE", path: TwilioAPI.hostedPath(path), authorization: authorization)
    }

    /// The first number an unfiltered US local search shows.
    func firstAvailable() throws -> String {
        guard let number = engine.availableNumbers(country: "US", type: .local, limit: 1).first else {
            throw CancellationError()
        }
        return number.phoneNumber
    }
}

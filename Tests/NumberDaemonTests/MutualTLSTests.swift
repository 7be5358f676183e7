import Foundation
import NumberAPI
import NumberClient
import NumberDaemon
import NumberTLS
import ServiceLifecycle
import Testing

@Suite("Mutual TLS (--client-ca)")
struct MutualTLSTests {
    @Test("with a client CA, only clients holding a certificate it issued get in")
    func clientCertificates() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("numberd-mtls-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let clientAuthority = try CertificateAuthority.generate(commonName: "services CA")
        let clientCAPath = directory + "/client-ca.pem"
        try clientAuthority.write(certificateTo: clientCAPath, privateKeyTo: directory + "/client-ca-key.pem")
        let service = try clientAuthority.issueClientCertificate(commonName: "billing-service")
        let stranger = try CertificateAuthority.generate(commonName: "other CA").issueClientCertificate(
            commonName: "intruder")

        var configuration = NumberdConfiguration(dataDirectory: directory + "/data")
        configuration.listen.port = 0
        configuration.metricsListen = nil
        configuration.clientCAFile = clientCAPath
        let numberd = try await Numberd.prepare(configuration, logger: quietLogger)
        let group = ServiceGroup(services: numberd.services, logger: quietLogger)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            let port = try await numberd.server.listeningAddress().port!
            func client(_ certificate: IssuedCertificate?) -> NumbersClientConfiguration {
                var client = NumbersClientConfiguration(
                    host: "127.0.0.1", port: port, apiKey: numberd.createdAdminKey,
                    trustRoots: .file(numberd.dataDirectory.caCertificate), retry: .none)
                client.clientCertificate = certificate.map { ($0.certificateChain, $0.privateKey) }
                return client
            }
            let health = try await withNumbersClient(client(service)) { try await $0.healthCheck(HealthCheckRequest()) }
            #expect(health.status == .serving)
            for refused in [nil, stranger] as [IssuedCertificate?] {
                let error = await #expect(throws: RPCError.self) {
                    try await withNumbersClient(client(refused)) { try await $0.healthCheck(HealthCheckRequest()) }
                }
                #expect(error?.code == .unavailable)
            }
            await group.triggerGracefulShutdown()
            try await tasks.next()
        }
        await numberd.close()
    }
}

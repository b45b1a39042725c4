import ArgumentParser
import FleetCore
import FleetPKI

/// `fleetctl pki`: the fleet's certificates.
struct PKICommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pki",
        abstract: "Create the fleet CA and issue certificates for the collector, operators and agents.",
        discussion: """
            Files in DIR:
              ca.pem, ca-key.pem                   the fleet CA (keep ca-key.pem offline if you can)
              collector.pem, collector-key.pem     the collector's TLS server certificate
              admin.pem, admin-key.pem             an operator's client certificate for the admin API
              agents/ID.pem, agents/ID-key.pem     one client certificate per agent
            Keys are written with mode 0600. No openssl is needed.
            """,
        subcommands: [Init.self, IssueAgent.self]
    )

    struct Init: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "init",
            abstract: "Create a CA, a collector server certificate and an admin client certificate."
        )

        @Option(name: .long, help: "Directory to write the PKI into (created if missing).")
        var dir: String

        @Option(
            name: .long,
            help: ArgumentHelp(
                "Comma-separated DNS names and IP addresses agents use to reach the collector.",
                valueName: "host[,host…]"))
        var collectorHost: String = "localhost,127.0.0.1"

        @Option(name: .long, help: "Common name of the admin client certificate.")
        var adminName: String = "admin"

        @Flag(name: .long, help: "Replace an existing CA. Every certificate the old CA signed stops being trusted.")
        var force = false

        func validate() throws {
            if hosts.isEmpty { throw ValidationError("--collector-host needs at least one host") }
        }

        var hosts: [String] {
            collectorHost.split(separator: ",").map(\.trimmedSpaces).filter { !$0.isEmpty }
        }

        func run() throws {
            do {
                let written = try PKIDirectory(path: dir).initialize(
                    collectorHosts: hosts, adminName: adminName, force: force)
                for file in written.files { print("wrote \(file)") }
                print("next: fleetctl pki issue-agent AGENT_ID --dir \(dir)")
            } catch {
                printError("\(error)")
                throw ExitStatus.failure
            }
        }
    }

    struct IssueAgent: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "issue-agent",
            abstract: "Issue a client certificate for one agent, signed by the CA in DIR."
        )

        @Argument(help: "The agent id: 1–64 of A–Z a–z 0–9 . _ - (named in the certificate's subject).")
        var agentID: String

        @Option(name: .long, help: "Directory holding the PKI made by `fleetctl pki init`.")
        var dir: String

        @Option(name: .long, help: "Days the certificate stays valid.")
        var days: Int = 825

        @Flag(name: .long, help: "Replace an existing certificate for this agent.")
        var force = false

        func validate() throws {
            guard days >= 1, days <= 36_500 else { throw ValidationError("--days must be between 1 and 36500") }
        }

        func run() throws {
            do {
                let written = try PKIDirectory(path: dir).issueAgent(agentID, validityDays: days, force: force)
                for file in written.files { print("wrote \(file)") }
            } catch {
                printError("\(error)")
                throw ExitStatus.failure
            }
        }
    }
}

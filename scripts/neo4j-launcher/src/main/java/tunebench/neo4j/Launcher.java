package tunebench.neo4j;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.OffsetDateTime;
import java.time.format.DateTimeFormatter;
import java.time.temporal.ChronoUnit;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

import org.neo4j.configuration.GraphDatabaseInternalSettings;
import org.neo4j.configuration.GraphDatabaseSettings;
import org.neo4j.configuration.connectors.BoltConnector;
import org.neo4j.configuration.connectors.HttpConnector;
import org.neo4j.configuration.connectors.HttpsConnector;
import org.neo4j.configuration.helpers.SocketAddress;
import org.neo4j.dbms.api.DatabaseManagementService;
import org.neo4j.dbms.api.DatabaseManagementServiceBuilder;
import org.neo4j.driver.AuthTokens;
import org.neo4j.driver.Driver;
import org.neo4j.driver.GraphDatabase;
import org.neo4j.driver.Logging;
import org.neo4j.driver.Session;
import org.neo4j.graphdb.GraphDatabaseService;
import org.neo4j.graphdb.QueryExecutionException;
import org.neo4j.graphdb.Result;
import org.neo4j.graphdb.Transaction;
import org.neo4j.logging.Level;
import org.neo4j.logging.log4j.Log4jLogProvider;

/**
 * The tunebench Neo4j server: an embedded Neo4j DBMS (Community edition) with
 * the Bolt connector on 127.0.0.1, started and stopped by scripts/stack.
 *
 * <pre>
 * java -cp 'launcher.jar:lib/*:plugins/*' tunebench.neo4j.Launcher \
 *   --home DIR --conf FILE --data DIR --logs DIR --plugins DIR \
 *   --port 7687 --pid-file FILE --ready-file FILE
 * </pre>
 *
 * <ul>
 * <li>Settings come from --conf, a Neo4j configuration file (key=value lines
 *     with standard setting names, # comments, read by Neo4j's own parser with
 *     strict validation, so a misspelt name stops the start). Connectors,
 *     directories and authentication are set here and win over that file.</li>
 * <li>The password of user neo4j is set to $TUNEBENCH_NEO4J_PASSWORD (default
 *     tunebench) on every start, through the system database.</li>
 * <li>When the DBMS is up, the password set and a query answered over Bolt
 *     as user neo4j, a line "[tunebench] ready: ..." is logged and
 *     --ready-file is written (key=value lines: pid, version, edition,
 *     apoc_procedures, apoc_functions, bolt, user, started).</li>
 * <li>SIGTERM/SIGINT shut the DBMS down cleanly (a checkpoint), then remove
 *     the ready and pid files; the JVM then exits with its usual 143/130.
 *     Bolt's network threads stop without Netty's 5 s quiet period (an
 *     internal setting that only affects shutdown): profiles that change
 *     neo4j.conf restart the server, and those seconds added up.</li>
 * </ul>
 * Log lines go to stdout, with Neo4j's user log; Neo4j's debug.log goes to
 * --logs. Exit codes: 1 when the start failed, 2 bad usage.
 */
public final class Launcher {
    private static final String USER = "neo4j";
    private static final String PASSWORD_ENV = "TUNEBENCH_NEO4J_PASSWORD";
    private static final String DEFAULT_PASSWORD = "tunebench";
    private static final String HOST = "127.0.0.1";

    private static final PrintStream OUT = System.out;
    private static final DateTimeFormatter TS = DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss.SSSZ");

    private static final AtomicReference<DatabaseManagementService> DBMS = new AtomicReference<>();
    private static final CountDownLatch STARTED = new CountDownLatch(1);
    private static volatile boolean stopping;

    private Launcher() {}

    static void log(String level, String msg) {
        synchronized (OUT) {
            OUT.printf("%s %-5s [tunebench] %s%n", OffsetDateTime.now().format(TS), level, msg);
            OUT.flush();
        }
    }

    static void usage(String error) {
        System.err.println("tunebench neo4j launcher: " + error);
        System.err.println("usage: Launcher --home DIR --conf FILE --data DIR --logs DIR --plugins DIR"
                + " --port N --pid-file FILE --ready-file FILE");
        System.exit(2);
    }

    public static void main(String[] argv) {
        Map<String, String> args = new HashMap<>();
        for (int i = 0; i < argv.length; i += 2) {
            if (!argv[i].startsWith("--") || i + 1 >= argv.length) {
                usage("bad argument '" + argv[i] + "'");
            }
            args.put(argv[i].substring(2), argv[i + 1]);
        }
        for (String k : List.of("home", "conf", "data", "logs", "plugins", "port", "pid-file", "ready-file")) {
            if (!args.containsKey(k)) {
                usage("--" + k + " is missing");
            }
        }
        int port = 0;
        try {
            port = Integer.parseInt(args.get("port"));
        } catch (NumberFormatException e) {
            usage("--port must be a number");
        }
        if (port <= 0 || port >= 65536) {
            usage("--port must be a TCP port");
        }
        Path home = Path.of(args.get("home")).toAbsolutePath();
        Path conf = Path.of(args.get("conf")).toAbsolutePath();
        Path pidFile = Path.of(args.get("pid-file")).toAbsolutePath();
        Path readyFile = Path.of(args.get("ready-file")).toAbsolutePath();
        String password = System.getenv().getOrDefault(PASSWORD_ENV, DEFAULT_PASSWORD);
        long pid = ProcessHandle.current().pid();

        try {
            Files.deleteIfExists(readyFile);
            writeAtomically(pidFile, pid + "\n");
        } catch (IOException e) {
            log("ERROR", "cannot write " + pidFile + ": " + e);
            System.exit(1);
        }
        Runtime.getRuntime().addShutdownHook(new Thread(() -> shutdown(pid, pidFile, readyFile), "tunebench-stop"));

        log("INFO", "starting Neo4j (pid " + pid + ", home " + home + ", config " + conf + ", Bolt " + HOST + ":"
                + port + ", " + Runtime.getRuntime().maxMemory() / (1024 * 1024) + " MiB max heap)");
        try {
            if (!Files.isReadable(conf)) {
                throw new IOException("config file " + conf + " is missing or unreadable");
            }
            warnAboutOverriddenSettings(conf);
            DatabaseManagementService dbms = new DatabaseManagementServiceBuilder(home)
                    .setUserLogProvider(new Log4jLogProvider(OUT, Level.INFO))
                    // Everything of the config file first; what follows wins over it.
                    .loadPropertiesFromFile(conf)
                    .setConfig(GraphDatabaseSettings.data_directory, Path.of(args.get("data")).toAbsolutePath())
                    .setConfig(GraphDatabaseSettings.logs_directory, Path.of(args.get("logs")).toAbsolutePath())
                    .setConfig(GraphDatabaseSettings.plugin_dir, Path.of(args.get("plugins")).toAbsolutePath())
                    .setConfig(GraphDatabaseSettings.default_listen_address, new SocketAddress(HOST))
                    .setConfig(BoltConnector.enabled, true)
                    .setConfig(BoltConnector.listen_address, new SocketAddress(HOST, port))
                    .setConfig(BoltConnector.advertised_address, new SocketAddress(HOST, port))
                    .setConfig(HttpConnector.enabled, false)
                    .setConfig(HttpsConnector.enabled, false)
                    .setConfig(GraphDatabaseSettings.auth_enabled, true)
                    .setConfig(GraphDatabaseSettings.udc_enabled, false)
                    .setConfig(GraphDatabaseInternalSettings.netty_server_shutdown_quiet_period, 0)
                    .build();
            DBMS.set(dbms);
            STARTED.countDown();
            if (stopping) {
                return;
            }
            setPassword(dbms.database(GraphDatabaseSettings.SYSTEM_DATABASE_NAME), password);
            Map<String, String> ready = checkOverBolt(port, password);
            StringBuilder sb = new StringBuilder();
            sb.append("pid=").append(pid).append('\n');
            ready.forEach((k, v) -> sb.append(k).append('=').append(v).append('\n'));
            sb.append("started=").append(OffsetDateTime.now().truncatedTo(ChronoUnit.SECONDS)).append('\n');
            if (stopping) {
                return;
            }
            writeAtomically(readyFile, sb.toString());
            log("INFO", "ready: Neo4j " + ready.get("version") + " " + ready.get("edition") + " at bolt://" + HOST
                    + ":" + port + ", user " + USER + ", APOC " + ready.get("apoc_procedures") + " procedures, "
                    + ready.get("apoc_functions") + " functions");
        } catch (Throwable e) {
            STARTED.countDown();
            if (stopping) {
                return;
            }
            log("ERROR", "start failed: " + e);
            for (Throwable c = e.getCause(); c != null && c != c.getCause(); c = c.getCause()) {
                log("ERROR", "  caused by: " + c);
            }
            System.exit(1);
        }
        // Bolt and the databases run on their own (non-daemon) threads; the
        // shutdown hook stops them on SIGTERM.
    }

    /** Settings that this launcher sets itself: a value in the config file is replaced. */
    private static void warnAboutOverriddenSettings(Path conf) throws IOException {
        Properties p = new Properties();
        try (var r = Files.newBufferedReader(conf, StandardCharsets.UTF_8)) {
            p.load(r);
        }
        List<String> ours = List.of(
                GraphDatabaseSettings.data_directory.name(),
                GraphDatabaseSettings.logs_directory.name(),
                GraphDatabaseSettings.plugin_dir.name(),
                GraphDatabaseSettings.default_listen_address.name(),
                BoltConnector.enabled.name(),
                BoltConnector.listen_address.name(),
                BoltConnector.advertised_address.name(),
                HttpConnector.enabled.name(),
                HttpsConnector.enabled.name(),
                GraphDatabaseSettings.auth_enabled.name(),
                GraphDatabaseSettings.udc_enabled.name(),
                GraphDatabaseInternalSettings.netty_server_shutdown_quiet_period.name());
        for (String k : p.stringPropertyNames()) {
            if (ours.contains(k)) {
                log("WARN", conf + ": " + k + " is set by scripts/stack; the value in the file is ignored");
            } else if (k.startsWith("server.memory.heap.") || k.equals("server.jvm.additional")) {
                log("WARN", conf + ": " + k + " has no effect on an embedded DBMS; set the heap in jvm.conf");
            }
        }
    }

    /** The password of user neo4j follows $TUNEBENCH_NEO4J_PASSWORD; no change is required at login. */
    private static void setPassword(GraphDatabaseService system, String password) {
        boolean changeRequired;
        try (Transaction tx = system.beginTx();
                Result r = tx.execute(
                        "SHOW USERS YIELD user, passwordChangeRequired WHERE user = $u RETURN passwordChangeRequired",
                        Map.of("u", USER))) {
            if (!r.hasNext()) {
                throw new IllegalStateException("user " + USER + " does not exist in the system database");
            }
            changeRequired = (Boolean) r.next().get("passwordChangeRequired");
        }
        try {
            system.executeTransactionally(
                    "ALTER USER " + USER + " SET PLAINTEXT PASSWORD $pw CHANGE NOT REQUIRED", Map.of("pw", password));
            log("INFO", "password of user " + USER + " set from " + PASSWORD_ENV);
        } catch (QueryExecutionException e) {
            // Neo4j refuses to set the password it already has: nothing to change.
            if (!String.valueOf(e.getMessage()).contains("cannot be the same")) {
                throw e;
            }
            if (changeRequired) {
                system.executeTransactionally("ALTER USER " + USER + " SET PASSWORD CHANGE NOT REQUIRED");
            }
        }
    }

    /** Log in over Bolt as a client would and run a query. */
    private static Map<String, String> checkOverBolt(int port, String password) {
        Map<String, String> out = new LinkedHashMap<>();
        org.neo4j.driver.Config config = org.neo4j.driver.Config.builder()
                .withoutEncryption()
                .withLogging(Logging.none())
                .withConnectionTimeout(10, TimeUnit.SECONDS)
                .build();
        try (Driver driver = GraphDatabase.driver("bolt://" + HOST + ":" + port, AuthTokens.basic(USER, password),
                        config);
                Session session = driver.session()) {
            var rec = session.run("CALL dbms.components() YIELD versions, edition "
                            + "RETURN versions[0] AS version, edition")
                    .single();
            out.put("version", rec.get("version").asString());
            out.put("edition", rec.get("edition").asString());
            for (String kind : List.of("procedures", "functions")) {
                long n = session.run("SHOW " + kind.toUpperCase()
                                + " YIELD name WHERE name STARTS WITH 'apoc.' RETURN count(*) AS n")
                        .single()
                        .get("n")
                        .asLong();
                out.put("apoc_" + kind, Long.toString(n));
            }
        }
        out.put("bolt", HOST + ":" + port);
        out.put("user", USER);
        return out;
    }

    private static void shutdown(long pid, Path pidFile, Path readyFile) {
        stopping = true;
        log("INFO", "shutting down");
        try {
            if (!STARTED.await(300, TimeUnit.SECONDS)) {
                log("WARN", "the DBMS did not finish starting within 300 s; exiting without a clean shutdown");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        try {
            Files.deleteIfExists(readyFile);
        } catch (IOException ignored) {
            // best effort
        }
        DatabaseManagementService dbms = DBMS.get();
        if (dbms != null) {
            try {
                dbms.shutdown();
                log("INFO", "Neo4j stopped");
            } catch (Throwable e) {
                log("ERROR", "shutdown failed: " + e);
            }
        }
        try {
            if (Files.readString(pidFile).trim().equals(Long.toString(pid))) {
                Files.delete(pidFile);
            }
        } catch (IOException ignored) {
            // best effort
        }
    }

    private static void writeAtomically(Path file, String content) throws IOException {
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        Files.writeString(tmp, content, StandardCharsets.UTF_8);
        Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }
}

import java.io.DataInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.lang.reflect.Method;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Path;
import java.util.Map;
import org.neo4j.configuration.GraphDatabaseInternalSettings;
import org.neo4j.configuration.GraphDatabaseSettings;
import org.neo4j.configuration.SettingImpl;
import org.neo4j.configuration.connectors.BoltConnector;
import org.neo4j.configuration.connectors.ConnectorPortRegister;
import org.neo4j.configuration.connectors.HttpConnector;
import org.neo4j.configuration.connectors.HttpsConnector;
import org.neo4j.configuration.helpers.SocketAddress;
import org.neo4j.dbms.api.DatabaseManagementService;
import org.neo4j.dbms.api.DatabaseManagementServiceBuilder;
import org.neo4j.graphdb.config.Setting;
import org.neo4j.kernel.internal.GraphDatabaseAPI;

/**
 * Embedded Neo4j Community with Bolt on 127.0.0.1 (an ephemeral port) and
 * auth on, for the Go tests. Usage: TestNeo4j HOME_DIR, password in env
 * USERSVC_NEO4J_PASSWORD. Prints "BOLT bolt://127.0.0.1:PORT" once Bolt
 * answers a handshake, then runs until SIGTERM or EOF on stdin (so it dies
 * with the test binary that holds the pipe). Compiles against 4.4 and 5.x.
 */
public final class TestNeo4j {
    private static volatile DatabaseManagementService dbms;

    public static void main(String[] args) throws Exception {
        if (args.length != 1) {
            System.err.println("usage: TestNeo4j HOME_DIR");
            System.exit(2);
        }
        String password = System.getenv("USERSVC_NEO4J_PASSWORD");
        if (password == null || password.isEmpty()) {
            System.err.println("USERSVC_NEO4J_PASSWORD is not set");
            System.exit(2);
        }
        // Our one stdout line must not mix with anything Neo4j prints.
        PrintStream out = System.out;
        System.setOut(System.err);

        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            DatabaseManagementService s = dbms;
            if (s != null) {
                s.shutdown();
            }
        }, "neo4j-shutdown"));
        Thread stdin = new Thread(() -> {
            try {
                InputStream in = System.in;
                byte[] buf = new byte[256];
                while (in.read(buf) >= 0) {
                    // Content is ignored; only EOF matters.
                }
            } catch (IOException ignored) {
                // A broken pipe means the parent is gone too.
            }
            System.exit(0);
        }, "stdin-eof");
        stdin.setDaemon(true);
        stdin.start();

        DatabaseManagementServiceBuilder b = new DatabaseManagementServiceBuilder(Path.of(args[0]));
        b.setConfig(GraphDatabaseSettings.auth_enabled, true);
        b.setConfig(GraphDatabaseSettings.default_listen_address, new SocketAddress("127.0.0.1"));
        b.setConfig(BoltConnector.enabled, true);
        b.setConfig(BoltConnector.listen_address, new SocketAddress("127.0.0.1", 0));
        b.setConfig(HttpConnector.enabled, false);
        b.setConfig(HttpsConnector.enabled, false);
        // Typed values differ by version (4.4 page cache is a String, 5.x a
        // Long), so these go through each setting's own parser.
        set(b, GraphDatabaseSettings.pagecache_memory, "64m");
        set(b, GraphDatabaseSettings.logical_log_rotation_threshold, "1M");
        set(b, GraphDatabaseSettings.preallocate_logical_logs, "false");
        set(b, GraphDatabaseSettings.keep_logical_logs, "false");
        set(b, GraphDatabaseSettings.tx_state_memory_allocation, "ON_HEAP");
        // Netty's default 5s quiet period, per event loop group, made a stop take 10s.
        b.setConfig(GraphDatabaseInternalSettings.netty_server_shutdown_quiet_period, 0);
        // 5.x only: its usage report would phone home.
        setIfPresent(b, "udc_enabled", "false");
        long t0 = System.nanoTime();
        dbms = b.build();
        long t1 = System.nanoTime();

        // The neo4j user starts with password "neo4j", change required.
        dbms.database("system").executeTransactionally(
                "ALTER USER neo4j SET PASSWORD $p CHANGE NOT REQUIRED", Map.of("p", password));

        int port = boltPort((GraphDatabaseAPI) dbms.database("neo4j"));
        handshake(port);
        System.err.printf("TestNeo4j: built in %d ms, password set in %d ms%n",
                (t1 - t0) / 1_000_000, (System.nanoTime() - t1) / 1_000_000);
        out.println("BOLT bolt://127.0.0.1:" + port);
        out.flush();
        Thread.currentThread().join();
    }

    @SuppressWarnings({"unchecked", "rawtypes"})
    private static void set(DatabaseManagementServiceBuilder b, Setting s, String value) {
        b.setConfig(s, ((SettingImpl) s).parse(value));
    }

    private static void setIfPresent(DatabaseManagementServiceBuilder b, String field, String value)
            throws IllegalAccessException {
        try {
            set(b, (Setting<?>) GraphDatabaseSettings.class.getField(field).get(null), value);
        } catch (NoSuchFieldException absent) {
            // Not in this version.
        }
    }

    // getLocalAddress takes the connector's name in 4.4, a ConnectorType in 5.x.
    @SuppressWarnings({"unchecked", "rawtypes"})
    private static int boltPort(GraphDatabaseAPI db) throws Exception {
        ConnectorPortRegister ports = db.getDependencyResolver().resolveDependency(ConnectorPortRegister.class);
        for (Method m : ConnectorPortRegister.class.getMethods()) {
            if (!m.getName().equals("getLocalAddress") || m.getParameterCount() != 1) {
                continue;
            }
            Class<?> p = m.getParameterTypes()[0];
            Object key = p == String.class ? BoltConnector.NAME : Enum.valueOf((Class<Enum>) p, "BOLT");
            Object hp = m.invoke(ports, key);
            if (hp == null) {
                throw new IllegalStateException("bolt connector has no local address");
            }
            return (Integer) hp.getClass().getMethod("getPort").invoke(hp);
        }
        throw new IllegalStateException("no ConnectorPortRegister.getLocalAddress");
    }

    // A Bolt handshake offering 5.0 and 4.4..4.0: the server must pick one.
    private static void handshake(int port) throws IOException {
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress("127.0.0.1", port), 10_000);
            s.setSoTimeout(10_000);
            OutputStream o = s.getOutputStream();
            o.write(new byte[] {
                (byte) 0x60, (byte) 0x60, (byte) 0xB0, (byte) 0x17,
                0, 0, 0, 5,
                0, 4, 4, 4,
                0, 0, 0, 0,
                0, 0, 0, 0,
            });
            o.flush();
            int v = new DataInputStream(s.getInputStream()).readInt();
            if (v == 0) {
                throw new IOException("bolt handshake: no common version");
            }
        }
    }
}

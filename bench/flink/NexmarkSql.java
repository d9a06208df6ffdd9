import org.apache.flink.configuration.Configuration;
import org.apache.flink.table.api.EnvironmentSettings;
import org.apache.flink.table.api.TableEnvironment;
import org.apache.flink.table.api.TableResult;

/**
 * Nexmark queries on Apache Flink SQL, over the JSON-lines event files that
 * `strom-bench nexmark-data` writes (the table and views of Flink's Nexmark suite, its
 * `ddl_kafka.sql`/`ddl_views.sql`, with the filesystem connector in place of Kafka), each into
 * a blackhole sink. Prints one line per query in the form of `strom-bench nexmark`.
 * Run: bench/flink/run.sh QUERY EVENTS_DIR PARALLELISM [EVENTS [print]]
 */
public class NexmarkSql {
    static final String TABLE =
        "CREATE TABLE nexmark (\n"
        + "  event_type INT,\n"
        + "  person ROW<id BIGINT, name VARCHAR, emailAddress VARCHAR, creditCard VARCHAR, city VARCHAR, state VARCHAR, dateTime TIMESTAMP(3), extra VARCHAR>,\n"
        + "  auction ROW<id BIGINT, itemName VARCHAR, description VARCHAR, initialBid BIGINT, reserve BIGINT, dateTime TIMESTAMP(3), expires TIMESTAMP(3), seller BIGINT, category BIGINT, extra VARCHAR>,\n"
        + "  bid ROW<auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR, url VARCHAR, dateTime TIMESTAMP(3), extra VARCHAR>,\n"
        + "  dateTime AS CASE WHEN event_type = 0 THEN person.dateTime WHEN event_type = 1 THEN auction.dateTime ELSE bid.dateTime END,\n"
        + "  WATERMARK FOR dateTime AS dateTime - INTERVAL '4' SECOND\n"
        + ") WITH ('connector' = 'filesystem', 'path' = '%s', 'format' = 'json')";

    static final String[] VIEWS = {
        "CREATE VIEW person AS SELECT person.id, person.name, person.emailAddress, person.creditCard, person.city, person.state, dateTime, person.extra FROM nexmark WHERE event_type = 0",
        "CREATE VIEW auction AS SELECT auction.id, auction.itemName, auction.description, auction.initialBid, auction.reserve, dateTime, auction.expires, auction.seller, auction.category, auction.extra FROM nexmark WHERE event_type = 1",
        "CREATE VIEW bid AS SELECT bid.auction, bid.bidder, bid.price, bid.channel, bid.url, dateTime, bid.extra FROM nexmark WHERE event_type = 2",
    };

    /** The sink's columns and the query of each Nexmark query (Flink's nexmark suite's SQL). */
    static String[] query(String name) {
        switch (name) {
            case "q0": return new String[] {
                "auction BIGINT, bidder BIGINT, price BIGINT, dateTime TIMESTAMP(3), extra VARCHAR",
                "SELECT auction, bidder, price, dateTime, extra FROM bid"};
            case "q1": return new String[] {
                "auction BIGINT, bidder BIGINT, price DECIMAL(23, 3), dateTime TIMESTAMP(3), extra VARCHAR",
                "SELECT auction, bidder, 0.908 * price as price, dateTime, extra FROM bid"};
            case "q2": return new String[] {
                "auction BIGINT, price BIGINT",
                "SELECT auction, price FROM bid WHERE MOD(auction, 123) = 0"};
            case "q3": return new String[] {
                "name VARCHAR, city VARCHAR, state VARCHAR, id BIGINT",
                "SELECT P.name, P.city, P.state, A.id FROM auction AS A INNER JOIN person AS P on A.seller = P.id "
                    + "WHERE A.category = 10 and (P.state = 'OR' OR P.state = 'ID' OR P.state = 'CA')"};
            case "q4": return new String[] {
                "id BIGINT, final BIGINT",
                "SELECT Q.category, AVG(Q.final) FROM ("
                    + " SELECT MAX(B.price) AS final, A.category FROM auction A, bid B"
                    + " WHERE A.id = B.auction AND B.dateTime BETWEEN A.dateTime AND A.expires"
                    + " GROUP BY A.id, A.category) Q "
                    + "GROUP BY Q.category"};
            case "q5": return new String[] {
                "auction BIGINT, num BIGINT",
                "SELECT AuctionBids.auction, AuctionBids.num FROM ("
                    + " SELECT auction, count(*) AS num, window_start AS starttime, window_end AS endtime"
                    + " FROM TABLE(HOP(TABLE bid, DESCRIPTOR(dateTime), INTERVAL '2' SECOND, INTERVAL '10' SECOND))"
                    + " GROUP BY auction, window_start, window_end) AS AuctionBids "
                    + "JOIN ("
                    + " SELECT max(CountBids.num) AS maxn, CountBids.starttime, CountBids.endtime FROM ("
                    + "  SELECT count(*) AS num, window_start AS starttime, window_end AS endtime"
                    + "  FROM TABLE(HOP(TABLE bid, DESCRIPTOR(dateTime), INTERVAL '2' SECOND, INTERVAL '10' SECOND))"
                    + "  GROUP BY auction, window_start, window_end) AS CountBids"
                    + " GROUP BY CountBids.starttime, CountBids.endtime) AS MaxBids "
                    + "ON AuctionBids.starttime = MaxBids.starttime AND AuctionBids.endtime = MaxBids.endtime "
                    + "AND AuctionBids.num >= MaxBids.maxn"};
            case "q7": return new String[] {
                "auction BIGINT, price BIGINT, bidder BIGINT, dateTime TIMESTAMP(3), extra VARCHAR",
                "SELECT B.auction, B.price, B.bidder, B.dateTime, B.extra FROM bid B JOIN ("
                    + " SELECT MAX(price) AS maxprice, window_end as dateTime"
                    + " FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(dateTime), INTERVAL '10' SECOND))"
                    + " GROUP BY window_start, window_end) B1 "
                    + "ON B.price = B1.maxprice "
                    + "WHERE B.dateTime BETWEEN B1.dateTime - INTERVAL '10' SECOND AND B1.dateTime"};
            case "q8": return new String[] {
                "id BIGINT, name VARCHAR, stime TIMESTAMP(3)",
                "SELECT P.id, P.name, P.starttime FROM ("
                    + " SELECT id, name, window_start AS starttime, window_end AS endtime"
                    + " FROM TABLE(TUMBLE(TABLE person, DESCRIPTOR(dateTime), INTERVAL '10' SECOND))"
                    + " GROUP BY id, name, window_start, window_end) P "
                    + "JOIN ("
                    + " SELECT seller, window_start AS starttime, window_end AS endtime"
                    + " FROM TABLE(TUMBLE(TABLE auction, DESCRIPTOR(dateTime), INTERVAL '10' SECOND))"
                    + " GROUP BY seller, window_start, window_end) A "
                    + "ON P.id = A.seller AND P.starttime = A.starttime AND P.endtime = A.endtime"};
            case "q11": return new String[] {
                "bidder BIGINT, bid_count BIGINT, starttime TIMESTAMP(3), endtime TIMESTAMP(3)",
                "SELECT B.bidder, count(*) as bid_count, SESSION_START(B.dateTime, INTERVAL '10' SECOND) as starttime,"
                    + " SESSION_END(B.dateTime, INTERVAL '10' SECOND) as endtime FROM bid B"
                    + " GROUP BY B.bidder, SESSION(B.dateTime, INTERVAL '10' SECOND)"};
            default: throw new IllegalArgumentException("unknown query " + name);
        }
    }

    /** `dateTime` is a reserved word in Flink SQL: quoted, as Flink's nexmark suite does. */
    static String quoted(String sql) {
        return sql.replace("dateTime", "`dateTime`");
    }

    public static void main(String[] args) throws Exception {
        String name = args[0];
        String path = args[1];
        int parallelism = Integer.parseInt(args[2]);
        long events = args.length > 3 ? Long.parseLong(args[3]) : 0;
        Configuration conf = new Configuration();
        conf.setString("parallelism.default", String.valueOf(parallelism));
        TableEnvironment env = TableEnvironment.create(
            EnvironmentSettings.newInstance().inStreamingMode().withConfiguration(conf).build());
        env.executeSql(quoted(String.format(TABLE, path)));
        for (String view : VIEWS) env.executeSql(quoted(view));
        String[] query = query(name);
        // "print" as fifth argument prints the results (for comparing with Strom's).
        boolean print = args.length > 4 && args[4].equals("print");
        String connector = print ? "print" : "blackhole";
        env.executeSql(quoted("CREATE TABLE discard_sink (" + query[0] + ") WITH ('connector' = '" + connector + "')"));
        long start = System.nanoTime();
        TableResult result = env.executeSql(quoted("INSERT INTO discard_sink " + query[1]));
        result.await();
        double seconds = (System.nanoTime() - start) / 1e9;
        System.out.printf("flink nexmark query=%s parallelism=%d events=%d input=%s seconds=%.3f events_per_s=%.0f%n",
            name, parallelism, events, path, seconds, events / seconds);
    }
}

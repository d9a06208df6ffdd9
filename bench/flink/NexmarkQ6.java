import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import org.apache.flink.api.common.state.ListState;
import org.apache.flink.api.common.state.ListStateDescriptor;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.TypeHint;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.java.tuple.Tuple2;
import org.apache.flink.api.java.tuple.Tuple3;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.streaming.api.functions.co.KeyedCoProcessFunction;
import org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink;
import org.apache.flink.table.api.bridge.java.StreamTableEnvironment;
import org.apache.flink.types.Row;
import org.apache.flink.util.Collector;

/**
 * Nexmark q6 (average selling price by seller) on Apache Flink. Flink's Nexmark suite marks its
 * SQL unsupported (the OVER window cannot read the winning bids' updating result), so this is the
 * query as a Flink user would write it instead: the same table and views as NexmarkSql read the
 * events, then the DataStream API, the same two steps as Strom's q6:
 * - per auction, the highest bid made while it was open, emitted when the watermark passes the
 *   auction's expiry (timestamped with it);
 * - per seller, once the watermark passed an auction's expiry, the integer average of the winning
 *   prices of the seller's last 10 closed auctions, in the order they closed (expiry, auction id).
 * Run: bench/flink/run.sh q6 EVENTS_DIR PARALLELISM [EVENTS [print]]
 */
public class NexmarkQ6 {
    static final int AUCTIONS = 10;

    static long millis(Object time) {
        return ((LocalDateTime) time).toInstant(ZoneOffset.UTC).toEpochMilli();
    }

    public static void main(String[] args) throws Exception {
        String path = args[1];
        int parallelism = Integer.parseInt(args[2]);
        long events = args.length > 3 ? Long.parseLong(args[3]) : 0;
        boolean print = args.length > 4 && args[4].equals("print");
        Configuration conf = new Configuration();
        conf.setString("parallelism.default", String.valueOf(parallelism));
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(conf);
        StreamTableEnvironment tables = StreamTableEnvironment.create(env);
        tables.executeSql(NexmarkSql.quoted(String.format(NexmarkSql.TABLE, path)));
        for (String view : NexmarkSql.VIEWS) tables.executeSql(NexmarkSql.quoted(view));
        // (id, seller, opened, expires) and (auction, price, time), with event-time timestamps.
        DataStream<Row> auctions = tables.toDataStream(
            tables.sqlQuery(NexmarkSql.quoted("SELECT id, seller, dateTime, expires FROM auction")));
        DataStream<Row> bids = tables.toDataStream(
            tables.sqlQuery(NexmarkSql.quoted("SELECT auction, price, dateTime FROM bid")));
        DataStream<Tuple2<Long, Long>> averages = auctions.connect(bids)
            .keyBy(a -> (Long) a.getField(0), b -> (Long) b.getField(0), Types.LONG)
            .process(new WinningBid())
            .keyBy(closed -> closed.f0)
            .process(new AverageOfLatest());
        if (print) averages.print(); else averages.sinkTo(new DiscardingSink<>());
        long start = System.nanoTime();
        env.execute("Nexmark q6");
        double seconds = (System.nanoTime() - start) / 1e9;
        System.out.printf("flink nexmark query=q6 parallelism=%d events=%d input=%s seconds=%.3f events_per_s=%.0f%n",
            parallelism, events, path, seconds, events / seconds);
    }

    /** Per auction: its highest bid made while it was open; (seller, auction, price) at its close. */
    public static class WinningBid extends KeyedCoProcessFunction<Long, Row, Row, Tuple3<Long, Long, Long>> {
        /** seller, opened, expires. */
        private transient ValueState<long[]> auction;
        private transient ValueState<Long> highest;
        /** price and time of bids that came before their auction. */
        private transient ListState<long[]> early;
        private transient ValueState<Boolean> closed;

        @Override
        public void open(org.apache.flink.api.common.functions.OpenContext context) {
            auction = getRuntimeContext().getState(new ValueStateDescriptor<>("auction", long[].class));
            highest = getRuntimeContext().getState(new ValueStateDescriptor<>("highest", Long.class));
            early = getRuntimeContext().getListState(new ListStateDescriptor<>("early", long[].class));
            closed = getRuntimeContext().getState(new ValueStateDescriptor<>("closed", Boolean.class));
        }

        private void bid(long price, long time) throws Exception {
            long[] a = auction.value();
            Long best = highest.value();
            if (time >= a[1] && time <= a[2] && (best == null || price > best)) highest.update(price);
        }

        @Override
        public void processElement1(Row row, Context ctx, Collector<Tuple3<Long, Long, Long>> out) throws Exception {
            long expires = millis(row.getField(3));
            auction.update(new long[] {(Long) row.getField(1), millis(row.getField(2)), expires});
            for (long[] b : early.get()) bid(b[0], b[1]);
            early.clear();
            ctx.timerService().registerEventTimeTimer(expires);
        }

        @Override
        public void processElement2(Row row, Context ctx, Collector<Tuple3<Long, Long, Long>> out) throws Exception {
            if (closed.value() != null) return;
            long price = (Long) row.getField(1), time = millis(row.getField(2));
            if (auction.value() == null) early.add(new long[] {price, time});
            else bid(price, time);
        }

        @Override
        public void onTimer(long timestamp, OnTimerContext ctx, Collector<Tuple3<Long, Long, Long>> out) throws Exception {
            Long best = highest.value();
            if (best != null) out.collect(Tuple3.of(auction.value()[0], ctx.getCurrentKey(), best));
            auction.clear();
            highest.clear();
            closed.update(true);
        }
    }

    /** Per seller: the average of the last 10 closed auctions' winning prices, in closing order. */
    public static class AverageOfLatest extends KeyedProcessFunction<Long, Tuple3<Long, Long, Long>, Tuple2<Long, Long>> {
        /** expiry, auction, price of closed auctions not yet counted. */
        private transient ListState<long[]> waiting;
        private transient ValueState<List<Long>> latest;

        @Override
        public void open(org.apache.flink.api.common.functions.OpenContext context) {
            waiting = getRuntimeContext().getListState(new ListStateDescriptor<>("waiting", long[].class));
            latest = getRuntimeContext().getState(new ValueStateDescriptor<>("latest",
                TypeInformation.of(new TypeHint<List<Long>>() {})));
        }

        @Override
        public void processElement(Tuple3<Long, Long, Long> closed, Context ctx, Collector<Tuple2<Long, Long>> out) throws Exception {
            long expires = ctx.timestamp();
            waiting.add(new long[] {expires, closed.f1, closed.f2});
            ctx.timerService().registerEventTimeTimer(expires);
        }

        @Override
        public void onTimer(long timestamp, OnTimerContext ctx, Collector<Tuple2<Long, Long>> out) throws Exception {
            List<long[]> due = new ArrayList<>(), rest = new ArrayList<>();
            for (long[] w : waiting.get()) (w[0] <= timestamp ? due : rest).add(w);
            waiting.update(rest);
            due.sort((x, y) -> x[0] != y[0] ? Long.compare(x[0], y[0]) : Long.compare(x[1], y[1]));
            List<Long> prices = latest.value() == null ? new ArrayList<>() : latest.value();
            for (long[] d : due) {
                if (prices.size() == AUCTIONS) prices.remove(0);
                prices.add(d[2]);
                long sum = 0;
                for (long p : prices) sum += p;
                out.collect(Tuple2.of(ctx.getCurrentKey(), sum / prices.size()));
            }
            latest.update(prices);
        }
    }
}

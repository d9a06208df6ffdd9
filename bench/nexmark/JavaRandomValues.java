import java.util.Random;

/**
 * Prints draws of java.util.Random that Strom's Nexmark generator must reproduce bit for bit
 * (crates/strom-connectors/src/nexmark/java_random.rs checks them).
 * Run: javac -d /tmp JavaRandomValues.java && java -cp /tmp JavaRandomValues
 */
public class JavaRandomValues {
    public static void main(String[] args) {
        Random random = new Random(42);
        System.out.println(random.nextInt());
        System.out.println(random.nextInt(10));
        System.out.println(random.nextInt(1000));
        System.out.println(random.nextLong());
        random = new Random(-7);
        System.out.println(random.nextInt(16));
        System.out.println(random.nextDouble());
    }
}

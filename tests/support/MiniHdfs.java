// A NameNode and a DataNode in one JVM (Hadoop's MiniDFSCluster, from hadoop-client-minicluster) for the tests:
// prints "READY <uri>" once it serves, then obeys one command a line on stdin:
// "stop-datanode", "start-datanode" (the same DataNode, same storage), "put LOCAL PATH", "get PATH LOCAL",
// "cp PATH PATH" (recursive copies, for tests that seed or read run dirs), "quit". Run in source-file mode.
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.FileUtil;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.hdfs.MiniDFSCluster;

public class MiniHdfs {
    public static void main(String[] args) throws Exception {
        // Replies only on stdout: Hadoop's logs go to stderr (a log file), never into the pipe the tests read
        // between commands, which would fill and stall the NameNode.
        PrintStream out = System.out;
        System.setOut(System.err);
        String base = args[0];
        int port = args.length > 1 ? Integer.parseInt(args[1]) : 0;
        Configuration conf = new Configuration();
        conf.set(MiniDFSCluster.HDFS_MINIDFS_BASEDIR, base);
        conf.set("dfs.namenode.rpc-bind-host", "127.0.0.1");
        conf.set("dfs.datanode.address", "127.0.0.1:0");
        conf.set("dfs.datanode.http.address", "127.0.0.1:0");
        conf.set("dfs.datanode.ipc.address", "127.0.0.1:0");
        conf.set("dfs.namenode.http-address", "127.0.0.1:0");
        conf.setBoolean("dfs.permissions.enabled", false);
        MiniDFSCluster cluster = new MiniDFSCluster.Builder(conf).nameNodePort(port).numDataNodes(1)
            .format(true).build();
        cluster.waitActive();
        out.println("READY hdfs://127.0.0.1:" + cluster.getNameNodePort());
        out.flush();
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
        MiniDFSCluster.DataNodeProperties stopped = null;
        String line;
        while ((line = in.readLine()) != null && !line.trim().equals("quit")) {
            String[] w = line.trim().split(" ");
            FileSystem fs = cluster.getFileSystem();
            String reply = "OK " + line.trim();
            try {
                if (w[0].equals("stop-datanode") && stopped == null) {
                    stopped = cluster.stopDataNode(0);
                } else if (w[0].equals("start-datanode") && stopped != null) {
                    cluster.restartDataNode(stopped, true);
                    cluster.waitActive();
                    stopped = null;
                } else if (w[0].equals("put") && w.length == 3) {
                    fs.copyFromLocalFile(false, true, new Path(w[1]), new Path(w[2]));
                } else if (w[0].equals("get") && w.length == 3) {
                    fs.copyToLocalFile(false, new Path(w[1]), new Path(w[2]), true);
                } else if (w[0].equals("cp") && w.length == 3) {
                    FileUtil.copy(fs, new Path(w[1]), fs, new Path(w[2]), false, true, conf);
                } else {
                    reply = "ERR unknown or out-of-order command: " + line.trim();
                }
            } catch (Exception e) {
                reply = "ERR " + line.trim() + ": " + e;
            }
            out.println(reply);
            out.flush();
        }
        cluster.shutdown();
    }
}

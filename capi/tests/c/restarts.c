/* Restarting components from C frees what each run held: a TCP client started and stopped 50
 * times against argv[1], an HTTP sync client sent 50 times to alternating host names (each a
 * new connection and so a new run), and an HTTP server and an HTTP agent started and stopped
 * 50 times. Each run has its own shard threads; a replaced run must let them go, so the
 * process's thread count may not grow by more than one run's threads (which may still be
 * exiting). Prints one line per component: its name and whether that held. */
#include <hpsocket/HPSocket4C.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>

static int threads(void)
{
    int n = 0;
    DIR* d = opendir("/proc/self/task");
    struct dirent* e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

static En_HP_HandleResult __HP_CALL OnReceive(HP_Client c, HP_CONNID id, const BYTE* d, int n)
{
    (void)c; (void)id; (void)d; (void)n;
    return HR_OK;
}

static En_HP_HandleResult __HP_CALL OnClose(HP_Client c, HP_CONNID id, En_HP_SocketOperation op, int e)
{
    (void)c; (void)id; (void)op; (void)e;
    return HR_OK;
}

static En_HP_HttpParseResult __HP_CALL OnMessageComplete(HP_HttpServer s, HP_CONNID id)
{
    (void)s; (void)id;
    return HPR_OK;
}

/* Each run's threads: at most this many more threads after 50 runs than after the first. */
#define SLACK 4

int main(int argc, char** argv)
{
    if (argc < 2)
        return 2;
    USHORT port = (USHORT)atoi(argv[1]);

    HP_TcpClientListener cl = Create_HP_TcpClientListener();
    HP_Set_FN_Client_OnReceive(cl, OnReceive);
    HP_Set_FN_Client_OnClose(cl, OnClose);
    HP_TcpClient c = Create_HP_TcpClient(cl);
    int base = 0, failed = 0;
    for (int i = 0; i <= 50; i++) {
        if (!HP_Client_Start(c, "127.0.0.1", port, FALSE))
            failed++;
        HP_Client_Stop(c);
        if (i == 0)
            base = threads();
    }
    printf("tcp client failed=%d bounded=%d\n", failed, threads() <= base + SLACK);
    Destroy_HP_TcpClient(c);
    Destroy_HP_TcpClientListener(cl);

    HP_HttpSyncClient s = Create_HP_HttpSyncClient(NULL);
    char url[96];
    failed = 0;
    for (int i = 0; i <= 50; i++) {
        snprintf(url, sizeof(url), "http://%s:%u/restart", (i & 1) ? "localhost" : "127.0.0.1", port);
        if (!HP_HttpSyncClient_OpenUrl(s, "GET", url, NULL, 0, NULL, 0, FALSE) || HP_HttpClient_GetStatusCode(s) != 200)
            failed++;
        if (i == 0)
            base = threads();
    }
    printf("sync client failed=%d bounded=%d\n", failed, threads() <= base + SLACK);
    Destroy_HP_HttpSyncClient(s);

    HP_HttpServerListener sl = Create_HP_HttpServerListener();
    HP_Set_FN_HttpServer_OnMessageComplete(sl, OnMessageComplete);
    HP_HttpServer srv = Create_HP_HttpServer(sl);
    HP_HttpAgentListener al = Create_HP_HttpAgentListener();
    HP_HttpAgent a = Create_HP_HttpAgent(al);
    failed = 0;
    for (int i = 0; i <= 50; i++) {
        if (!HP_Server_Start(srv, "127.0.0.1", 0))
            failed++;
        HP_Server_Stop(srv);
        if (!HP_Agent_Start(a, NULL, FALSE))
            failed++;
        HP_Agent_Stop(a);
        if (i == 0)
            base = threads();
    }
    printf("http server and agent failed=%d bounded=%d\n", failed, threads() <= base + 2 * SLACK);
    Destroy_HP_HttpServer(srv);
    Destroy_HP_HttpServerListener(sl);
    Destroy_HP_HttpAgent(a);
    Destroy_HP_HttpAgentListener(al);
    return 0;
}

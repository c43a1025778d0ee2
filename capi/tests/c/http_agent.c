/* HP's HttpAgent in C: two connections (to 127.0.0.1:argv[1] and :argv[2]) made with
 * HP_Agent_ConnectWithExtra and HP_Agent_ConnectWithExtraAndLocalAddressPort (NULL address) on
 * an agent started with synchronous connects; each sends a GET from OnConnect, then the main
 * thread POSTs on the first and sends a chunked POST on the second; every answer is read per
 * connection in OnBody / OnMessageComplete through the HP_HttpAgent_* getters. OnPrepareConnect
 * and OnSend are checked per connection (they read the extra, so it is set before either); a
 * connect from the local address ::1 to a closed ::1 port must fail with ECONNREFUSED, one from
 * ::1 to 127.0.0.1 with EAFNOSUPPORT, and one whose OnPrepareConnect says HR_ERROR at once
 * with ECANCELED (HP's ERROR_CANCELLED). With
 * argv[3] "https" it is an HttpsAgent (SSL_VM_NONE). Prints one line per answer, in
 * connection order. */
#include <hpsocket/HPSocket4C-SSL.h>
#include <netinet/in.h>
#include <semaphore.h>
#include <sys/socket.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static sem_t answered;
static char bodies[3][2048];
static char lines[3][4][2300];
static int answers[3];
static int prepared[3], stream[3];
static long sent[3];
static char first_sent[3][16];

static long which(HP_Agent a, HP_CONNID id);

static En_HP_HandleResult __HP_CALL OnPrepareConnect(HP_Agent a, HP_CONNID id, UINT_PTR s)
{
    long w = which(a, id);
    int type = 0;
    socklen_t len = sizeof(type);
    if (w == 3)
        return HR_ERROR; /* this connect is refused before it starts */
    if (w >= 1 && w <= 2) {
        prepared[w]++;
        stream[w] = getsockopt((int)s, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_STREAM;
    }
    return HR_OK;
}

static En_HP_HandleResult __HP_CALL OnSend(HP_Agent a, HP_CONNID id, const BYTE* d, int n)
{
    long w = which(a, id);
    if (w >= 1 && w <= 2) {
        if (sent[w] == 0)
            memcpy(first_sent[w], d, n < 15 ? n : 15);
        sent[w] += n;
    }
    return HR_OK;
}

/* A loopback IPv6 port nothing listens on. */
static USHORT closed_v6_port(void)
{
    int s = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin6_family = AF_INET6;
    sa.sin6_addr = in6addr_loopback;
    socklen_t len = sizeof(sa);
    if (s < 0 || bind(s, (struct sockaddr*)&sa, sizeof(sa)) != 0 || getsockname(s, (struct sockaddr*)&sa, &len) != 0)
        return 0;
    close(s);
    return ntohs(sa.sin6_port);
}

static long which(HP_Agent a, HP_CONNID id)
{
    PVOID x = NULL;
    HP_Agent_GetConnectionExtra(a, id, &x);
    return (long)x;
}

static En_HP_HandleResult __HP_CALL OnConnect(HP_Agent a, HP_CONNID id)
{
    char path[64];
    snprintf(path, sizeof(path), "/agent/%ld", which(a, id));
    HP_THeader hs[] = {{"X-Test", "agent"}};
    return HP_HttpAgent_SendGet(a, id, path, hs, 1) ? HR_OK : HR_ERROR;
}

static En_HP_HttpParseResult __HP_CALL OnBody(HP_HttpAgent a, HP_CONNID id, const BYTE* d, int n)
{
    long w = which(a, id);
    if (w < 1 || w > 2)
        return HPR_ERROR;
    size_t have = strlen(bodies[w]);
    if (have + n >= sizeof(bodies[w]))
        return HPR_ERROR;
    memcpy(bodies[w] + have, d, n);
    bodies[w][have + n] = 0;
    return HPR_OK;
}

static En_HP_HttpParseResult __HP_CALL OnMessageComplete(HP_HttpAgent a, HP_CONNID id)
{
    long w = which(a, id);
    LPCSTR ct = HP_HttpAgent_GetContentType(a, id), sid = NULL;
    HP_HttpAgent_GetCookie(a, id, "sid", &sid);
    DWORD n = 0;
    HP_HttpAgent_GetAllHeaders(a, id, NULL, &n);
    snprintf(lines[w][answers[w]++], sizeof(lines[w][0]), "conn %ld status=%u ct=%s sid=%s headers=%u ka=%d body=%s", w,
             HP_HttpAgent_GetStatusCode(a, id), ct ? ct : "-", sid ? sid : "-", n, HP_HttpAgent_IsKeepAlive(a, id), bodies[w]);
    bodies[w][0] = 0;
    sem_post(&answered);
    return HPR_OK;
}

int main(int argc, char** argv)
{
    if (argc < 3)
        return 2;
    int tls = argc > 3 && strcmp(argv[3], "https") == 0;
    sem_init(&answered, 0, 0);
    HP_HttpAgentListener l = Create_HP_HttpAgentListener();
    HP_Set_FN_HttpAgent_OnPrepareConnect(l, OnPrepareConnect);
    HP_Set_FN_HttpAgent_OnSend(l, OnSend);
    HP_Set_FN_HttpAgent_OnConnect(l, OnConnect);
    HP_Set_FN_HttpAgent_OnBody(l, OnBody);
    HP_Set_FN_HttpAgent_OnMessageComplete(l, OnMessageComplete);
    HP_HttpAgent a = tls ? Create_HP_HttpsAgent(l) : Create_HP_HttpAgent(l);
    if (tls && !HP_SSLAgent_SetupSSLContext(a, SSL_VM_NONE, NULL, NULL, NULL, NULL))
        return printf("ssl setup failed\n"), 1;
    HP_HttpAgent_SetUseCookie(a, FALSE);
    if (!HP_Agent_Start(a, NULL, FALSE))
        return printf("start failed %d\n", SYS_GetLastError()), 1;
    HP_CONNID ids[3] = {0};
    if (!HP_Agent_ConnectWithExtra(a, "127.0.0.1", (USHORT)atoi(argv[1]), &ids[1], (PVOID)1))
        printf("connect 1 failed %d\n", SYS_GetLastError());
    if (!HP_Agent_ConnectWithExtraAndLocalAddressPort(a, "127.0.0.1", (USHORT)atoi(argv[2]), &ids[2], (PVOID)2, 0, NULL))
        printf("connect 2 failed %d\n", SYS_GetLastError());
    HP_CONNID v6 = 0;
    BOOL v6ok = HP_Agent_ConnectWithLocalAddress(a, "::1", closed_v6_port(), &v6, "::1");
    printf("v6 local ok=%d errno=%d\n", v6ok, SYS_GetLastError());
    HP_CONNID other = 0;
    BOOL mixed = HP_Agent_ConnectWithLocalAddress(a, "127.0.0.1", (USHORT)atoi(argv[1]), &other, "::1");
    printf("v6 local to v4 ok=%d errno=%d\n", mixed, SYS_GetLastError());
    HP_CONNID refused = 0;
    BOOL cancelled = HP_Agent_ConnectWithExtra(a, "127.0.0.1", (USHORT)atoi(argv[1]), &refused, (PVOID)3);
    printf("prepare refused ok=%d errno=%d\n", cancelled, SYS_GetLastError());
    sem_wait(&answered);
    sem_wait(&answered);
    HP_THeader ph[] = {{"Content-Type", "text/plain"}};
    if (!HP_HttpAgent_SendPost(a, ids[1], "/post", ph, 1, (const BYTE*)"agent body", 10))
        printf("post failed %d\n", SYS_GetLastError());
    HP_THeader ch[] = {{"Transfer-Encoding", "chunked"}};
    if (!HP_HttpAgent_SendRequest(a, ids[2], "post", "/chunked-up", ch, 1, NULL, 0))
        printf("chunked post failed %d\n", SYS_GetLastError());
    if (!HP_HttpAgent_SendChunkData(a, ids[2], (const BYTE*)"hello ", 6, NULL))
        printf("chunk 1 failed %d\n", SYS_GetLastError());
    if (!HP_HttpAgent_SendChunkData(a, ids[2], (const BYTE*)"chunked world", 13, "ext=1"))
        printf("chunk 2 failed %d\n", SYS_GetLastError());
    if (!HP_HttpAgent_SendChunkData(a, ids[2], NULL, 0, NULL))
        printf("last chunk failed %d\n", SYS_GetLastError());
    sem_wait(&answered);
    sem_wait(&answered);
    printf("count %u\n", HP_Agent_GetConnectionCount(a));
    HP_Agent_Stop(a);
    if (tls)
        Destroy_HP_HttpsAgent(a);
    else
        Destroy_HP_HttpAgent(a);
    Destroy_HP_HttpAgentListener(l);
    for (int w = 1; w <= 2; w++) {
        for (int i = 0; i < answers[w]; i++)
            printf("%s\n", lines[w][i]);
        printf("conn %d prepared=%d stream=%d first=%s\n", w, prepared[w], stream[w], first_sent[w]);
        printf("conn %d sent=%ld\n", w, sent[w]);
    }
    return 0;
}

/* HP-Socket's C usage, unchanged: a TcpPullAgent with callbacks set through HP_Set_FN_*,
 * started, connected to three hosts (ports on argv), waited for, stopped and destroyed.
 * Each connection sends "hello <port>", fetches the echo in OnPullReceive, then disconnects. */
#include <hpsocket/HPSocket4C.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int closed = 0;

static USHORT port_of(HP_Agent agent, HP_CONNID id)
{
    TCHAR addr[64];
    int len = sizeof(addr);
    USHORT port = 0;
    if (!HP_Agent_GetRemoteAddress(agent, id, addr, &len, &port))
        return 0;
    return port;
}

static En_HP_HandleResult __HP_CALL OnConnect(HP_Agent pSender, HP_CONNID dwConnID)
{
    char msg[32];
    USHORT port = port_of(pSender, dwConnID);
    int n = snprintf(msg, sizeof(msg), "hello %u", port);
    printf("connect %u\n", port);
    if (!HP_Agent_Send(pSender, dwConnID, (const BYTE*)msg, n))
        printf("send failed %u\n", port);
    return HR_OK;
}

static En_HP_HandleResult __HP_CALL OnSend(HP_Agent pSender, HP_CONNID dwConnID, const BYTE* pData, int iLength)
{
    (void)pData;
    printf("send %u %d\n", port_of(pSender, dwConnID), iLength);
    return HR_OK;
}

static En_HP_HandleResult __HP_CALL OnPullReceive(HP_Agent pSender, HP_CONNID dwConnID, int iLength)
{
    char buf[64];
    USHORT port = port_of(pSender, dwConnID);
    char want[32];
    int n = snprintf(want, sizeof(want), "hello %u", port);
    if (iLength < n)
        return HR_OK; /* wait for the rest */
    if (HP_TcpPullAgent_Fetch(pSender, dwConnID, (BYTE*)buf, n) != FR_OK)
        return HR_ERROR;
    printf("recv %u %.*s\n", port, n, buf);
    HP_Agent_Disconnect(pSender, dwConnID, FALSE);
    return HR_OK;
}

static En_HP_HandleResult __HP_CALL OnClose(HP_Agent pSender, HP_CONNID dwConnID, En_HP_SocketOperation enOperation, int iErrorCode)
{
    (void)pSender;
    (void)dwConnID;
    printf("close %d %d\n", (int)enOperation, iErrorCode);
    __atomic_add_fetch(&closed, 1, __ATOMIC_SEQ_CST);
    return HR_OK;
}

static En_HP_HandleResult __HP_CALL OnShutdown(HP_Agent pSender)
{
    (void)pSender;
    printf("shutdown\n");
    return HR_OK;
}

int main(int argc, char* argv[])
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc != 4) {
        fprintf(stderr, "usage: pull_agent PORT PORT PORT\n");
        return 2;
    }
    HP_TcpPullAgentListener listener = Create_HP_TcpPullAgentListener();
    HP_Set_FN_Agent_OnConnect(listener, OnConnect);
    HP_Set_FN_Agent_OnSend(listener, OnSend);
    HP_Set_FN_Agent_OnPullReceive(listener, OnPullReceive);
    HP_Set_FN_Agent_OnClose(listener, OnClose);
    HP_Set_FN_Agent_OnShutdown(listener, OnShutdown);

    HP_TcpPullAgent agent = Create_HP_TcpPullAgent(listener);
    if (!HP_Agent_Start(agent, NULL, FALSE)) {
        printf("start failed %d %s\n", HP_Agent_GetLastError(agent), HP_Agent_GetLastErrorDesc(agent));
        return 1;
    }
    for (int i = 1; i <= 3; i++) {
        HP_CONNID id = 0;
        if (!HP_Agent_Connect(agent, "127.0.0.1", (USHORT)atoi(argv[i]), &id)) {
            printf("connect failed %s %u\n", argv[i], SYS_GetLastError());
            return 1;
        }
    }
    for (int t = 0; t < 500 && __atomic_load_n(&closed, __ATOMIC_SEQ_CST) < 3; t++)
        usleep(10000);
    printf("state %d count %u\n", (int)HP_Agent_GetState(agent), HP_Agent_GetConnectionCount(agent));
    HP_Agent_Stop(agent);
    printf("stopped %d\n", (int)HP_Agent_GetState(agent));
    Destroy_HP_TcpPullAgent(agent);
    Destroy_HP_TcpPullAgentListener(listener);
    printf("done\n");
    return 0;
}

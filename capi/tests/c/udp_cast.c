/* HP's UdpCast in C: a member of multicast group 239.255.71.9 (port argv[1]) joined on the
 * loopback interface (the bind address), loop on. Prints "up" after OnConnect and OnHandShake,
 * "got <sender> <data>" per datagram (the sender from HP_UdpCast_GetRemoteAddress inside
 * OnReceive), sends stdin lines "send X" to the group, and "close 5 0" / "stopped 3" at the end. */
#include <hpsocket/HPSocket4C.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile int up = 0;

static En_HP_HandleResult __HP_CALL OnConnect(HP_Client pSender, HP_CONNID dwConnID)
{
    (void)pSender;
    (void)dwConnID;
    up |= 1;
    return HR_OK;
}

static En_HP_HandleResult __HP_CALL OnHandShake(HP_Client pSender, HP_CONNID dwConnID)
{
    if (dwConnID != HP_Client_GetConnectionID(pSender))
        printf("connection id differs\n");
    up |= 2;
    return HR_OK;
}

static En_HP_HandleResult __HP_CALL OnReceive(HP_Client pSender, HP_CONNID dwConnID, const BYTE* pData, int iLength)
{
    (void)dwConnID;
    TCHAR addr[64];
    int len = sizeof(addr);
    USHORT port = 0;
    if (!HP_UdpCast_GetRemoteAddress(pSender, addr, &len, &port))
        strcpy(addr, "?");
    printf("got %s %.*s\n", addr, iLength, (const char*)pData);
    return HR_OK;
}

static En_HP_HandleResult __HP_CALL OnClose(HP_Client pSender, HP_CONNID dwConnID, En_HP_SocketOperation enOperation, int iErrorCode)
{
    (void)pSender;
    (void)dwConnID;
    printf("close %d %d\n", (int)enOperation, iErrorCode);
    return HR_OK;
}

int main(int argc, char** argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 2)
        return 2;
    HP_UdpCastListener listener = Create_HP_UdpCastListener();
    HP_Set_FN_Client_OnConnect(listener, OnConnect);
    HP_Set_FN_Client_OnHandShake(listener, OnHandShake);
    HP_Set_FN_Client_OnReceive(listener, OnReceive);
    HP_Set_FN_Client_OnClose(listener, OnClose);
    HP_UdpCast cast = Create_HP_UdpCast(listener);
    if (HP_UdpCast_GetCastMode(cast) != CM_MULTICAST || HP_UdpCast_GetMultiCastTtl(cast) != 1 || HP_UdpCast_IsMultiCastLoop(cast))
        return printf("HP's defaults\n"), 1;
    HP_UdpCast_SetMultiCastLoop(cast, TRUE);
    if (!HP_UdpCast_IsMultiCastLoop(cast))
        return printf("settings not kept\n"), 1;
    TCHAR addr[64];
    int len = sizeof(addr);
    USHORT port = 0;
    if (HP_UdpCast_GetRemoteAddress(cast, addr, &len, &port))
        return printf("a sender outside OnReceive\n"), 1;
    if (!HP_Client_StartWithBindAddress(cast, "239.255.71.9", (USHORT)atoi(argv[1]), FALSE, "127.0.0.1"))
        return printf("start: %d %s\n", HP_Client_GetLastError(cast), HP_Client_GetLastErrorDesc(cast)), 1;
    len = sizeof(addr);
    if (!HP_Client_GetRemoteHost(cast, addr, &len, &port) || strcmp(addr, "239.255.71.9") != 0)
        return printf("group address %s\n", addr), 1;
    if (up != 3)
        return printf("OnConnect/OnHandShake: %d\n", up), 1;
    printf("up\n");
    char line[128];
    while (fgets(line, sizeof(line), stdin)) {
        if (strncmp(line, "send ", 5) == 0) {
            int n = (int)strcspn(line + 5, "\n");
            if (!HP_Client_Send(cast, (const BYTE*)line + 5, n))
                printf("send failed %d\n", SYS_GetLastError());
        } else if (strncmp(line, "quit", 4) == 0) {
            break;
        }
    }
    HP_Client_Stop(cast);
    printf("stopped %d\n", (int)HP_Client_GetState(cast));
    Destroy_HP_UdpCast(cast);
    Destroy_HP_UdpCastListener(listener);
    return 0;
}
